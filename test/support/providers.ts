// The dynamic providers whose serialization test/support/serialize-providers.ts checks.
import { pfSenseApplyProvider, pfSenseObjectProvider } from "../../providers/pfsense";

export const all = { pfSenseObjectProvider, pfSenseApplyProvider } as const;
