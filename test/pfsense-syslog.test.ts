// pfSense's remote syslog (its firewall log sent to the mail host) through the provider, against the
// fake pfrest's log settings (test/fakes/pfrest-logsettings.ts, after pfrest v2.10.0's LogSettings
// model): the operator's earlier settings come back on delete, drift made in the GUI is seen and
// undone, pfrest's refusals reach the operator, and the provider works after serialization.
import { describe, expect, it } from "vitest";
import {
  remoteSyslogProvider,
  remoteSyslogSpec,
  type RemoteSyslogInputs,
  type RemoteSyslogOutputs,
} from "../providers/pfsense/syslog";
import { fakePfRestForFile } from "./support/fake-pfrest";
import { plain } from "../plan/engine";
import { planWithKeys } from "./plans";
import { rejection, runRevived } from "./tools";

const API_KEY = "pfrest-key-syslog-0123456789-secret";
const pfrest = fakePfRestForFile(API_KEY);

const spec = remoteSyslogSpec({ address: "10.20.0.10", port: 5514 }, "lan");
const inputs = (): RemoteSyslogInputs => ({ connection: pfrest.connection, spec });

async function create(): Promise<RemoteSyslogOutputs> {
  const checked = await remoteSyslogProvider.check?.(inputs(), inputs());
  expect(checked?.failures ?? []).toEqual([]);
  const { outs } = await remoteSyslogProvider.create(inputs());
  if (!outs) throw new Error("create returned no outputs");
  return outs;
}

/** What the operator had before the stack: everything to an older collector. */
const OPERATOR = { enableremotelogging: true, remoteserver: "192.0.2.50", sourceip: "", logall: true };

describe("pfSense's remote syslog", () => {
  it("sends the firewall log to the mail host from the LAN interface, restarting syslogd without a filter reload", async () => {
    await create();
    expect(pfrest.fake.config.syslog).toMatchObject({
      enableremotelogging: true,
      remoteserver: "10.20.0.10:5514",
      sourceip: "lan",
      ipprotocol: "ipv4",
      logall: false,
      filter: true,
    });
    expect(pfrest.fake.syslogdRestarts).toBe(1);
    expect(pfrest.fake.reloads).toBe(0);
    expect([...pfrest.fake.dirty]).toEqual([]);
  });

  it("gives the operator's earlier remote logging back on delete", async () => {
    pfrest.fake.config.syslog = { ...OPERATOR, auth: null, filter: null };
    const outs = await create();
    expect(outs.previous).toMatchObject(OPERATOR);
    expect(pfrest.fake.config.syslog).toMatchObject({ remoteserver: "10.20.0.10:5514", logall: false });
    await remoteSyslogProvider.delete?.("remote-syslog", outs);
    expect(pfrest.fake.config.syslog).toMatchObject(OPERATOR);
  });

  it("turns remote logging off again on delete when it was off, which unsets the server", async () => {
    const outs = await create();
    await remoteSyslogProvider.delete?.("remote-syslog", outs);
    expect(pfrest.fake.config.syslog).toMatchObject({ enableremotelogging: false, remoteserver: null, filter: null });
  });

  it("sees remote logging switched off in the GUI, and the update switches it on again", async () => {
    const outs = await create();
    pfrest.fake.config.syslog = { ...pfrest.fake.config.syslog, enableremotelogging: false, remoteserver: null };
    const read = await remoteSyslogProvider.read?.("remote-syslog", outs);
    const observed = read?.props as RemoteSyslogOutputs;
    expect(observed.spec).toMatchObject({ enableremotelogging: false, remoteserver: null });
    expect((await remoteSyslogProvider.diff?.("remote-syslog", observed, inputs()))?.changes).toBe(true);
    expect((await remoteSyslogProvider.diff?.("remote-syslog", outs, inputs()))?.changes).toBe(false);
    const updated = await remoteSyslogProvider.update?.("remote-syslog", observed, inputs());
    expect(pfrest.fake.config.syslog).toMatchObject({ enableremotelogging: true, remoteserver: "10.20.0.10:5514" });
    // The settings from before the stack are still the ones a delete restores.
    expect(updated?.outs?.previous).toEqual(outs.previous);
  });

  it("reports pfrest's refusal of an interface pfSense lacks, with its response id", async () => {
    const wrong = {
      connection: pfrest.connection,
      spec: remoteSyslogSpec({ address: "10.20.0.10", port: 5514 }, "opt9"),
    };
    const error = await rejection(remoteSyslogProvider.create(wrong));
    expect(error.message).toMatch(/FIELD_INVALID_CHOICE/);
    expect(error.message).toMatch(/sourceip/);
    expect(pfrest.fake.config.syslog).toBeUndefined();
  });

  it("refuses a field it does not own at check time", async () => {
    const news = { connection: pfrest.connection, spec: { ...spec, nologdefaultblock: true } };
    const checked = await remoteSyslogProvider.check?.(news, news);
    expect(checked?.failures).toEqual([{ property: "spec", reason: "not a remote-logging field: nologdefaultblock" }]);
  });

  it("creates, refreshes and deletes when loaded back from its serialized form", async () => {
    pfrest.fake.config.syslog = { ...OPERATOR };
    const results = await runRevived("pfSenseRemoteSyslogProvider", [
      { op: "create", news: { ...inputs() } },
      { op: "read", id: "remote-syslog", oldsFrom: 0 },
      { op: "delete", id: "remote-syslog", oldsFrom: 0 },
    ]);
    expect(results.map((result) => result.error)).toEqual([undefined, undefined, undefined]);
    expect(results[1]?.ok?.props).toMatchObject({ spec: { remoteserver: "10.20.0.10:5514" } });
    expect(pfrest.fake.config.syslog).toMatchObject(OPERATOR);
  });
});

describe("the stack with a log collector", () => {
  const forward = JSON.stringify({
    forward: {
      host: "logs.example.org",
      caCertificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    },
  });

  it("points pfSense at the mail host's LAN address, which receives from pfSense's address only", async () => {
    const { result } = await planWithKeys({ "mailstack:logging": forward });
    const syslog = result.run.resources.filter((r) => r.custom && r.name.endsWith("remote-syslog"));
    expect(syslog.map((r) => r.type)).toEqual([expect.stringMatching(/RemoteSyslog$/)]);
    // Pulumi.prod.yaml: lan.ipv4 10.3.0.4/24, lan.gateway4 (pfSense) 10.3.0.1, pfsense.lanInterface lan.
    expect(plain(syslog[0]?.inputs.spec)).toEqual(remoteSyslogSpec({ address: "10.3.0.4", port: 5514 }, "lan"));
    const rsyslog = result.files.find((file) => file.path.endsWith("/etc/rsyslog.conf"))?.content ?? "";
    expect(rsyslog).toContain('input(type="imudp" name="pfsense" address="10.3.0.4" port="5514")');
    expect(rsyslog).toContain('$fromhost-ip != "10.3.0.1" then stop');
  });

  it("leaves pfSense's logging alone with logging.pfsense false, and without a collector", async () => {
    const off = JSON.stringify({ ...JSON.parse(forward), pfsense: false });
    for (const logging of [off, undefined]) {
      const { result } = await planWithKeys(logging ? { "mailstack:logging": logging } : {});
      expect(result.run.resources.filter((r) => r.name.endsWith("remote-syslog"))).toEqual([]);
      const rsyslog = result.files.find((file) => file.path.endsWith("/etc/rsyslog.conf"))?.content ?? "";
      expect(rsyslog).not.toContain("imudp");
    }
  });
});
