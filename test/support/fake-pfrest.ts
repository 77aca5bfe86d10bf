// One fake pfrest on loopback for a whole test file: started before its tests, its state reset
// before each, stopped after them. The provider checks pfrest's settings once per pfSense and key;
// that check is made here, up front, so no test pays for it or depends on its order.
import { afterAll, beforeAll, beforeEach } from "vitest";
import type { PfSenseConnection } from "../../providers/pfsense/client";
import { findOwn } from "../../providers/pfsense/objects";
import { loopbackCertificate } from "../fakes/https";
import { FakePfRest } from "../fakes/pfrest";

export interface FakePfRestForFile {
  readonly fake: FakePfRest;
  /** A connection with the fake's API key. */
  readonly connection: PfSenseConnection;
}

/** Registers the file's hooks; the fields are readable from the first test on. */
export function fakePfRestForFile(apiKey: string): FakePfRestForFile {
  let started: { fake: FakePfRest; connection: PfSenseConnection } | undefined;
  beforeAll(async () => {
    const fake = new FakePfRest(await loopbackCertificate(), apiKey);
    await fake.api.start();
    const connection = fake.api.connection(apiKey);
    await findOwn(connection, "rule", "[warm-up]");
    started = { fake, connection };
  });
  afterAll(() => started?.fake.api.stop());
  beforeEach(() => started?.fake.reset());
  const get = () => {
    if (!started) throw new Error("the fake pfrest is read before its beforeAll hook started it");
    return started;
  };
  return {
    get fake() {
      return get().fake;
    },
    get connection() {
      return get().connection;
    },
  };
}
