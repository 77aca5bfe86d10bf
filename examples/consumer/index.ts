// What another team's program does with mailstack's outputs: the registrar's DS records, the
// TLSA records to check, the DKIM records, where mail clients connect, and the initial mailbox
// passwords (which stay secrets). Outputs are typed by ../../outputs.ts, the stable interface.
//
//   pulumi config set mailstackStack organization/mailstack/prod   (the producing stack)
//   pulumi up
import * as pulumi from "@pulumi/pulumi";
import type { StackOutputs } from "../../outputs";

const config = new pulumi.Config();
const mailstack = new pulumi.StackReference(config.require("mailstackStack"));

/** One of mailstack's outputs, with its type from outputs.ts (a missing output fails the run). */
function output<K extends keyof StackOutputs>(name: K): pulumi.Output<StackOutputs[K]> {
  return mailstack.requireOutput(name) as pulumi.Output<StackOutputs[K]>;
}

const zones = output("zones");
const domains = output("domains");
const endpoints = output("endpoints");

/** The DS record each zone's registrar needs (absent while DNSSEC is off for a zone). */
export const registrarDs = zones.apply((all) =>
  Object.fromEntries(Object.entries(all).map(([zone, delegation]) => [zone, delegation.ds ?? null])),
);

/** The TLSA records of the MX, as a zone file would hold them. */
export const tlsaRecords = output("tlsa").apply((tlsa) =>
  tlsa ? tlsa.values.map((value) => `${tlsa.name}. IN TLSA 3 1 1 ${value}`) : [],
);

export const dkimRecords = domains.apply((all) =>
  Object.fromEntries(Object.entries(all).map(([domain, hosted]) => [domain, hosted.dkim])),
);

/** Where mail clients connect: host:port of submission (implicit TLS) and IMAP. */
export const clientEndpoints = endpoints.apply((e) => ({
  submissions: `${e.submissions.host}:${e.submissions.port}`,
  imaps: `${e.imaps.host}:${e.imaps.port}`,
}));

export const webmail = output("urls").apply((urls) => urls.webmail);

/** Secret in mailstack's state, secret here: a StackReference keeps the secret flag. */
export const initialPasswords = output("mailboxInitialPasswords");
