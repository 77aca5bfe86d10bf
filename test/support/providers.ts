// The dynamic providers the resources use, whose serialization test/support/serialize-providers.ts checks.
import { mailcowProvider } from "../../providers/mailcow";
import { pfSenseProvider } from "../../providers/pfsense";
import { proxmoxProvider } from "../../providers/proxmox";

export const all = { pfSenseProvider, mailcowProvider, proxmoxProvider } as const;
