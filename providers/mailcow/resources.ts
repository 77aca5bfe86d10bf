// The mailcow resources the stack declares, served by the one mailcow dynamic provider.
import * as pulumi from "@pulumi/pulumi";
import type { MailboxSpec, DomainSpec } from "./domains";
import type { PasswordPolicy, RateLimitFrame } from "./policies";
import { mailcowProvider } from "./provider";

// ---- resources ----------------------------------------------------------------------------

type Input<T> = pulumi.Input<T>;
type ConnectionInput = Input<{ endpoint: Input<string>; apiKey: Input<string>; caCertificate?: Input<string> }>;
const secretOpts = (opts: pulumi.CustomResourceOptions | undefined, extra: string[] = []) => ({
  ...opts,
  additionalSecretOutputs: ["connection", ...extra],
});

export class MailcowDomain extends pulumi.dynamic.Resource {
  declare readonly adopted: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; spec: DomainSpec; adopt: boolean },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "domain", adopted: undefined },
      secretOpts(opts),
      "mailcow",
      "Domain",
    );
  }
}

export class MailcowMailbox extends pulumi.dynamic.Resource {
  declare readonly adopted: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: {
      connection: ConnectionInput;
      spec: MailboxSpec;
      password: Input<string>;
      forcePasswordUpdate: boolean;
      adopt: boolean;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "mailbox", adopted: undefined },
      secretOpts(opts, ["password"]),
      "mailcow",
      "Mailbox",
    );
  }
}

export class MailcowDkimKey extends pulumi.dynamic.Resource {
  declare readonly publicKey: pulumi.Output<string>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; domain: string; selector: string; privateKeyPem: Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "dkim", publicKey: undefined },
      secretOpts(opts, ["privateKeyPem"]),
      "mailcow",
      "DkimKey",
    );
  }
}

export class MailcowAdmin extends pulumi.dynamic.Resource {
  declare readonly forceTfa: pulumi.Output<boolean>;
  constructor(
    name: string,
    args: { connection: ConnectionInput; username: string; password: Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mailcowProvider,
      name,
      { ...args, kind: "admin", forceTfa: undefined },
      secretOpts(opts, ["password"]),
      "mailcow",
      "Admin",
    );
  }
}

export class MailcowRateLimit extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: {
      connection: ConnectionInput;
      scope: "domain" | "mailbox";
      object: string;
      value: number;
      frame: RateLimitFrame;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(mailcowProvider, name, { ...args, kind: "ratelimit" }, secretOpts(opts), "mailcow", "RateLimit");
  }
}

export class MailcowPasswordPolicy extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { connection: ConnectionInput; policy: PasswordPolicy },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(mailcowProvider, name, { ...args, kind: "passwordpolicy" }, secretOpts(opts), "mailcow", "PasswordPolicy");
  }
}
