// The dynamic providers the resources use, whose serialization test/support/serialize-providers.ts checks.
import { mailcowProvider } from "../../providers/mailcow";
import { pfSenseProvider } from "../../providers/pfsense";

export const all = { pfSenseProvider, mailcowProvider } as const;
