// The dynamic providers the resources use, whose serialization test/support/serialize-providers.ts checks.
import { mailcowProvider } from "../../providers/mailcow/provider";
import { pfSenseProvider } from "../../providers/pfsense/provider";
import { proxmoxProvider } from "../../providers/proxmox/provider";

export const all = { pfSenseProvider, mailcowProvider, proxmoxProvider } as const;
