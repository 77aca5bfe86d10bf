// Calling policy rules with fabricated resources (never through PolicyPack, which starts a
// server): the messages a rule reports, and builders for the resources rules look at.
import type { Policy, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { wire } from "../../common/sdk-internals";
import { checkResource, checkStack, type ResourceView } from "../../policies/args";
import { TYPES } from "../../policies/lib";
import { installAndRun } from "../../render/host-scripts";
import { bringUp, stepResourceName, type MailcowHostInput } from "../../render/mailcow-host";
import { MAIL_HOST_SECRETS, mailHostInput } from "../fixtures";

/** The SDK's marker for a value a preview cannot know. */
export const UNKNOWN_VALUE = wire.unknownValue;

function asResourcePolicy(policy: Policy): ResourceValidationPolicy {
  if (!("validateResource" in policy)) throw new Error(`${policy.name} is not a resource rule`);
  return policy as ResourceValidationPolicy;
}

function asStackPolicy(policy: Policy): StackValidationPolicy {
  if (!("validateStack" in policy)) throw new Error(`${policy.name} is not a stack rule`);
  return policy as StackValidationPolicy;
}

/** Messages a resource rule reports for one resource ([] when compliant). Fails on unknown reads. */
export async function violations(policy: Policy, resource: ResourceView): Promise<string[]> {
  const outcome = await checkResource(asResourcePolicy(policy), resource);
  if (outcome?.unknown) throw new Error(`rule read an unknown value: ${outcome.unknown}`);
  return outcome?.violations.map((v) => v.message) ?? [];
}

/** Messages (and the URN each is reported at) of a stack rule over a set of resources. */
export async function stackViolations(
  policy: Policy,
  resources: readonly ResourceView[],
): Promise<{ message: string; urn: string }[]> {
  const outcome = await checkStack(asStackPolicy(policy), resources);
  if (outcome?.unknown) throw new Error(`rule read an unknown value: ${outcome.unknown}`);
  return outcome?.violations ?? [];
}

export const stackMessages = async (policy: Policy, resources: readonly ResourceView[]) =>
  (await stackViolations(policy, resources)).map((v) => v.message);

// ---- builders ---------------------------------------------------------------------------------

export const ZONE = "b2c0cd330f2aec3ee83a4e26ee4f964f";
export const OTHER_ZONE = "0123456789abcdef0123456789abcdef";

export function resource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  extra: Partial<ResourceView> = {},
): ResourceView {
  return { type, name, urn: `urn:pulumi:test::mailstack::${type}::${name}`, props, ...extra };
}

export function record(name: string, type: string, value: Record<string, unknown>, zoneId = ZONE): ResourceView {
  return resource(TYPES.dnsRecord, `${name}-${type}`, { zoneId, name, type, ttl: 3600, ...value });
}

/** A TXT record as MailDnsZone writes it: quoted, split in 255-byte strings. */
export function txt(name: string, text: string, zoneId = ZONE): ResourceView {
  const chunks = text.match(/.{1,255}/g) ?? [""];
  return record(name, "TXT", { content: chunks.map((c) => `"${c}"`).join(" ") }, zoneId);
}

export function zoneSetting(settingId: string, value: string, zoneId = ZONE): ResourceView {
  return resource(TYPES.zoneSetting, `${zoneId}-${settingId}`, { zoneId, settingId, value });
}

export function zoneDnssec(status: string | undefined, zoneId = ZONE): ResourceView {
  return resource(TYPES.zoneDnssec, `${zoneId}-dnssec`, { zoneId, ...(status === undefined ? {} : { status }) });
}

export function stack(outputs: Record<string, unknown>): ResourceView {
  return resource(TYPES.stack, "mailstack-test", outputs);
}

/**
 * The mail host's bring-up commands as MailcowVm declares them (components/mailcow-vm.ts): one
 * `sudo bash -s` command per step of the real renderer, the secret steps' script on stdin as it
 * is, the others wrapped by installAndRun. Rules judge these, not the component's inputs.
 */
export function mailHostCommands(input: MailcowHostInput = mailHostInput()): ResourceView[] {
  return bringUp(input, MAIL_HOST_SECRETS, "").map((step) =>
    resource(TYPES.command, stepResourceName("mailcow", step.name), {
      connection: { host: "10.3.0.4", user: "mailstack-deploy", hostKey: "ssh-ed25519 AAAA" },
      create: "sudo bash -s",
      stdin: step.secret ? step.script.content : installAndRun(step.script),
      logging: step.secret ? "none" : "stdoutAndStderr",
    }),
  );
}

/** One of mailHostCommands() by step name. */
export function mailHostCommand(name: string, input?: MailcowHostInput): ResourceView {
  const found = mailHostCommands(input).find((r) => r.name === stepResourceName("mailcow", name));
  if (!found) throw new Error(`no bring-up step ${name}`);
  return found;
}
