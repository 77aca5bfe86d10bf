// Key sizes of the keys the stack generates (pure constants, shared by the components and the
// offline plan, which starts generating them early).

/** The mail server's TLS key: RSA because acme-tiny (mailcow's HTTP-01 client) needs RSA; 4096 bits
 * because internet.nl rates RSA 2048 as "phase out". */
export const MAIL_TLS_KEY_BITS = 4096;

/** DKIM keys: RSA 2048, the size every verifier supports and TXT records hold comfortably. */
export const DKIM_KEY_BITS = 2048;
