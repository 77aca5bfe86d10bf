// The parts of mailauth 4.13.3 verify uses. lib/spf and lib/mta-sts ship type definitions;
// getPublicKey (lib/tools.js:237) and getDmarcRecord (lib/dmarc/get-dmarc-record.js) do not,
// so their shapes are declared here from that source.
import type { DNSResolver } from "mailauth";
import { parsePolicy, resolvePolicy, validateMx } from "mailauth/lib/mta-sts";
import { spf } from "mailauth/lib/spf";
import type { NodeStyleResolver } from "./dns/resolver";

export { parsePolicy, resolvePolicy, spf, validateMx };

export const asMailauthResolver = (resolver: NodeStyleResolver) => resolver as DNSResolver;

/** lib/tools.js getPublicKey: throws with code EINVALIDVAL/EINVALIDVER/EINVALIDTYPE/ESHORTKEY, or a resolver error. */
export interface DkimKey {
  readonly publicKey: string;
  readonly rr: string;
  readonly modulusLength?: number;
}

/** lib/dmarc/get-dmarc-record.js: tags lower-cased, pct/ri as numbers, false when there is no single record. */
export type DmarcRecord = Readonly<Record<string, string | number | boolean>> & {
  readonly rr: string;
  readonly isOrgRecord: boolean;
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tools = require("mailauth/lib/tools") as {
  getPublicKey(type: "DKIM", name: string, minBitLength: number, resolver: DNSResolver): Promise<DkimKey>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const getDmarcRecordImpl = require("mailauth/lib/dmarc/get-dmarc-record") as (
  domain: string,
  resolver: DNSResolver,
) => Promise<DmarcRecord | false>;

export function getDkimKey(name: string, resolver: NodeStyleResolver): Promise<DkimKey> {
  return tools.getPublicKey("DKIM", name, 1024, asMailauthResolver(resolver));
}

export function getDmarcRecord(domain: string, resolver: NodeStyleResolver): Promise<DmarcRecord | false> {
  return getDmarcRecordImpl(domain, asMailauthResolver(resolver));
}
