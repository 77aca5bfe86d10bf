// The program's single entry to configuration: reads what the Pulumi CLI passed, validates it
// with loadConfig, and turns secret values into Pulumi secrets before anything else sees them.
import * as pulumi from "@pulumi/pulumi";
import { isConfigSecret } from "../common/sdk-internals";
import { ConfigError, loadConfig, type MailstackConfig } from "./load";
import type { SecretKey } from "./schema";

export type Secrets = Readonly<Partial<Record<SecretKey, pulumi.Output<string>>>>;

// Internal SDK function (present since 3.x): whether the CLI passed a key as secret.

export function readConfig(): { config: MailstackConfig; secrets: Secrets } {
  try {
    const loaded = loadConfig({
      stack: pulumi.getStack(),
      values: pulumi.runtime.allConfig(),
      isSecret: isConfigSecret,
    });
    const secrets: Partial<Record<SecretKey, pulumi.Output<string>>> = {};
    for (const [key, value] of Object.entries(loaded.secrets) as [SecretKey, string][]) {
      secrets[key] = pulumi.secret(value);
    }
    return { config: loaded.config, secrets };
  } catch (error) {
    // A RunError ends the program with its message only, without a stack trace.
    if (error instanceof ConfigError) throw new ConfigRunError(error);
    throw error;
  }
}

/** A ConfigError as the Pulumi CLI should print it: the problems, no stack trace. */
export class ConfigRunError extends pulumi.RunError {
  readonly problems: ConfigError["problems"];
  constructor(error: ConfigError) {
    super(error.message);
    this.name = "ConfigError";
    this.problems = error.problems;
  }
}
