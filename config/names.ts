// Domain name, mailbox and e-mail address checks for config validation (pure).

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Returns why `name` is not a fully qualified DNS host/domain name in lower-case A-label
 * form (at least two labels, LDH labels, a TLD that is not all digits), or undefined.
 */
export function domainNameProblem(name: string): string | undefined {
  if (name.length === 0) return "empty";
  if (name.endsWith(".")) return "write it without the trailing dot";
  if (name !== name.toLowerCase()) return "write it in lower case";
  if (/[^\x21-\x7e]/.test(name)) {
    return "contains non-ASCII or blank characters; use the IDNA A-label (xn--…) form";
  }
  if (name.length > 253) return "longer than 253 characters";
  const labels = name.split(".");
  if (labels.length < 2) return "needs at least two labels (e.g. example.org)";
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return `label "${label}" must be 1–63 letters, digits or hyphens, not starting or ending with a hyphen`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return "the top-level label cannot be numeric";
  return undefined;
}

/** True when `name` equals `zone` or lies below it. */
export function isAtOrBelow(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

// RFC 5321 dot-atom local part, restricted to the characters mailcow accepts in practice.
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

export function localPartProblem(localPart: string): string | undefined {
  if (localPart.length === 0) return "empty";
  if (localPart.length > 64) return "longer than 64 characters";
  if (localPart !== localPart.toLowerCase()) return "write it in lower case";
  if (!LOCAL_PART.test(localPart)) {
    return "must be a dot-atom (letters, digits and !#$%&'*+/=?^_`{|}~- separated by single dots)";
  }
  return undefined;
}

/** Returns why `address` is not a plain e-mail address local@domain, or undefined. */
export function emailProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0) return "must look like name@example.org";
  return localPartProblem(address.slice(0, at)) ?? domainNameProblem(address.slice(at + 1));
}

/** Returns why `uri` is not a mailto: URI with one address, or undefined. */
export function mailtoProblem(uri: string): string | undefined {
  if (!uri.startsWith("mailto:")) return "must be a mailto: URI (mailto:reports@example.org)";
  const problem = emailProblem(uri.slice("mailto:".length));
  return problem ? `the address ${problem}` : undefined;
}

/** Returns why `url` is not an absolute https:// URL, or undefined. */
export function httpsUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be an absolute URL such as https://host:8006/";
  }
  if (parsed.protocol !== "https:") return "must use https:// so that TLS is verified";
  if (parsed.username || parsed.password) return "must not carry credentials; use the secret config keys";
  return undefined;
}
