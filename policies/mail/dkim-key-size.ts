// DKIM keys have at least 2048 bits (RFC 8301 §3.2: 1024 is the floor, 2048 the recommendation).
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { RULES } from "../../common/policy-catalog";
import { TYPES, isKnown, readUnlessUnknown, unknownProps, resourceRule, knownString, txtText } from "../lib";

export const MIN_BITS = 2048;

function rsaBits(key: KeyObject): number | undefined {
  return key.asymmetricKeyType === "rsa" ? key.asymmetricKeyDetails?.modulusLength : undefined;
}

/** The RSA size of the key in a DKIM TXT record, or undefined for other algorithms. */
export function dkimRecordBits(text: string): number | undefined {
  const tags = new Map(
    text.split(";").map((part) => {
      const [key = "", ...value] = part.trim().split("=");
      return [key.trim().toLowerCase(), value.join("=").replace(/\s+/g, "")] as const;
    }),
  );
  if ((tags.get("k") ?? "rsa") !== "rsa") return undefined;
  const p = tags.get("p");
  if (!p) return undefined;
  return rsaBits(createPublicKey({ key: Buffer.from(p, "base64"), format: "der", type: "spki" }));
}

export const dkimKeySize = resourceRule(RULES.dkimKeySize, {
  description: `DKIM keys are at least ${MIN_BITS} bits: the generated key, the published record and the key mailcow signs with.`,
  remediationSteps: `Generate RSA keys with rsaBits >= ${MIN_BITS} (the stack's DKIM keys are RSA 2048).`,
  validateResource: (args, report) => {
    const small = (bits: number | undefined, what: string) => {
      if (bits !== undefined && bits < MIN_BITS) report(`${what} is RSA ${bits}: use at least ${MIN_BITS} bits`);
    };
    switch (args.type) {
      case TYPES.privateKey: {
        if (knownString(() => unknownProps(args).algorithm) !== "RSA") return;
        const bits = readUnlessUnknown(() => unknownProps(args).rsaBits);
        if (!isKnown(bits)) return;
        small(typeof bits === "number" ? bits : 2048, `key ${args.name}`);
        return;
      }
      case TYPES.dnsRecord: {
        if (knownString(() => unknownProps(args).type)?.toUpperCase() !== "TXT") return;
        const content = knownString(() => unknownProps(args).content);
        if (content === undefined) return;
        const text = txtText(content);
        // v=DKIM1 is optional (RFC 6376 §3.6.1): a key under _domainkey is a DKIM key too.
        const name = knownString(() => unknownProps(args).name) ?? "";
        if (!/^v=DKIM1\s*(;|$)/i.test(text) && !/\._domainkey\./i.test(name)) return;
        small(dkimRecordBits(text), `the DKIM record ${knownString(() => unknownProps(args).name) ?? args.name}`);
        return;
      }
      case TYPES.dkimKey: {
        const pem = knownString(() => unknownProps(args).privateKeyPem);
        if (pem)
          small(
            rsaBits(createPrivateKey(pem)),
            `the DKIM key mailcow signs ${knownString(() => unknownProps(args).domain) ?? ""} with`,
          );
        return;
      }
      default:
    }
  },
});
