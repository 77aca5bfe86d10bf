// The dynamic providers the resources use, whose serialization test/support/serialize-providers.ts checks.
import { mailcowProvider } from "../../providers/mailcow/provider";
import { pfSenseProvider } from "../../providers/pfsense/provider";
import { remoteSyslogProvider as pfSenseRemoteSyslogProvider } from "../../providers/pfsense/syslog";
import { pfSenseUserProvider } from "../../providers/pfsense/user";
import { proxmoxProvider } from "../../providers/proxmox/provider";

export const all = {
  pfSenseProvider,
  pfSenseRemoteSyslogProvider,
  pfSenseUserProvider,
  mailcowProvider,
  proxmoxProvider,
} as const;
