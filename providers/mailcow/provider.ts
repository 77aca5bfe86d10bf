// The Pulumi dynamic provider for mailcow's REST API: one provider object for the mail objects
// (domains.ts) and the account and policies (policies.ts); the requests are in client.ts.
// Self-contained: dynamic providers are serialized with everything they import (no module-level
// Set or Map, see ../rest.ts).
import { dispatchingProvider, handlers } from "../dispatch";
import { mailcowDkimProvider, mailcowDomainProvider, mailcowMailboxProvider } from "./domains";
import { mailcowAdminProvider, mailcowPasswordPolicyProvider, mailcowRateLimitProvider } from "./policies";

// ---- one provider for all of them ----------------------------------------------------------
// The resources share one provider object (serialized once per deployment), which dispatches on
// the `kind` each resource adds to its inputs.

const HANDLERS = handlers({
  domain: mailcowDomainProvider,
  mailbox: mailcowMailboxProvider,
  dkim: mailcowDkimProvider,
  admin: mailcowAdminProvider,
  ratelimit: mailcowRateLimitProvider,
  passwordpolicy: mailcowPasswordPolicyProvider,
});

export const mailcowProvider = dispatchingProvider((kind) => {
  const found = HANDLERS[kind as keyof typeof HANDLERS];
  if (!found) throw new Error(`mailcow provider: unknown kind ${String(kind)}`);
  return found;
});
