// Every API client the stack uses verifies its peer: TLS certificates for the Proxmox, pfSense,
// mailcow and PBS APIs, pinned SSH host keys for remote commands.
import { RULES } from "../../common/policy-catalog";
import {
  TYPES,
  asRecord,
  isHttpsUrl,
  isKnown,
  readUnlessUnknown,
  unknownProps,
  resourceRule,
  knownString,
  text,
} from "../lib";

const truthy = (value: unknown) => value === true || value === "true";

export const verifiedConnections = resourceRule(RULES.verifiedConnections, {
  description:
    "Providers and API clients verify TLS (Proxmox insecure off, pfSense/mailcow over verified HTTPS, PBS fingerprint pinned) and SSH host keys.",
  remediationSteps:
    "Keep Proxmox `insecure: false`, use https:// endpoints (pin a CA with pfsense.caCertificate), set the PBS fingerprint and pin SSH host keys (proxmox.sshHostKey).",
  validateResource: (args, report) => {
    const type = args.type;
    const props = unknownProps(args);
    if (type === TYPES.proxmoxProvider) {
      if (truthy(readUnlessUnknown(() => props.insecure)))
        report("the Proxmox provider skips TLS verification: set insecure to false");
      const endpoint = knownString(() => props.endpoint);
      if (endpoint !== undefined && !isHttpsUrl(endpoint))
        report(`the Proxmox endpoint ${endpoint} is not HTTPS: set mailstack:proxmox.endpoint to https://…:8006/`);
      return;
    }
    if (
      type.startsWith(TYPES.pfsensePrefix) ||
      type.startsWith(TYPES.mailcowPrefix) ||
      type.startsWith(TYPES.proxmoxApiPrefix)
    ) {
      const connection = readUnlessUnknown(() => asRecord(props.connection));
      if (!isKnown(connection)) return;
      const what = type.startsWith(TYPES.pfsensePrefix)
        ? "pfSense"
        : type.startsWith(TYPES.mailcowPrefix)
          ? "mailcow"
          : "Proxmox";
      const endpoint = typeof connection.endpoint === "string" ? connection.endpoint : undefined;
      // The client always verifies certificates (providers/rest.ts); the scheme is what config can get wrong.
      if (endpoint === undefined)
        report(`the ${what} API client has no endpoint: set mailstack:${what.toLowerCase()}.endpoint`);
      else if (!isHttpsUrl(endpoint)) report(`the ${what} API is reached over ${endpoint}: use an https:// endpoint`);
      if (type !== TYPES.pbs) return;
    }
    if (type === TYPES.pbs) {
      const fingerprint = readUnlessUnknown(() => props.fingerprint);
      if (isKnown(fingerprint) && (typeof fingerprint !== "string" || fingerprint.trim() === ""))
        report("the PBS storage pins no certificate fingerprint: set mailstack:backup.pbs.fingerprint");
    }
    if (type === TYPES.command || type === TYPES.copyToRemote) {
      const connection = readUnlessUnknown(() => asRecord(props.connection));
      if (!isKnown(connection)) return;
      const hostKey = readUnlessUnknown(() => asRecord(props.connection).hostKey);
      if (!isKnown(hostKey)) return;
      if (typeof hostKey !== "string" || hostKey.trim() === "")
        report(`the SSH connection to ${text(connection.host)} does not pin the host key: set connection.hostKey`);
    }
  },
});
