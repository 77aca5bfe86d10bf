// Postfix's per-client limits as rendered into mailcow's extra.cf, on a real Postfix on loopback:
// a client that opens connection after connection, holds many at once, or sends message after
// message is refused past the limit (anvil). The lab's client is 127.0.0.1, which Postfix's default
// exceptions ($mynetworks) would exempt, as they exempt mailcow's own containers: the lab clears them.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postfixExtraCf } from "../render/mailcow";
import { freePort, postconfArguments, startPostfix } from "./lab";

const dir = mkdtempSync(join(tmpdir(), "mailstack-postfix-limits-"));
let stop = (): Promise<void> => Promise.resolve();
let port = 0;
const LIMITS = { connectionCount: 3, connectionRatePerMinute: 6, messageRatePerMinute: 2 };

/** The client-limit lines of the rendered extra.cf. */
const limitSettings = () =>
  postconfArguments(postfixExtraCf({ hostname: "mail.example.org", minVersion: "1.2", limits: LIMITS })).filter(
    (setting) => /^(anvil_|smtpd_client_)/.test(setting),
  );

/** An SMTP session: reads replies line by line, sends commands. */
class Session {
  private buffer = "";
  private waiting: ((line: string) => void)[] = [];
  private lines: string[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let index;
      while ((index = this.buffer.indexOf("\r\n")) >= 0) {
        const line = this.buffer.slice(0, index);
        this.buffer = this.buffer.slice(index + 2);
        // Multi-line replies ("250-…") end with the line whose fourth character is a space.
        if (line[3] === "-") continue;
        const next = this.waiting.shift();
        if (next) next(line);
        else this.lines.push(line);
      }
    });
    socket.on("close", () => {
      for (const next of this.waiting.splice(0)) next("(closed)");
    });
  }

  static open(): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => resolve(new Session(socket)));
      socket.on("error", reject);
    });
  }

  reply(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async send(command: string): Promise<string> {
    this.socket.write(`${command}\r\n`);
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}

beforeAll(async () => {
  port = await freePort();
  ({ stop } = await startPostfix(dir, port, [...limitSettings(), "smtpd_client_event_limit_exceptions="]));
});
afterAll(async () => {
  await stop();
  if (!process.env.MAILSTACK_KEEP_LAB) rmSync(dir, { recursive: true, force: true });
});

describe("Postfix with the rendered client limits", () => {
  it("renders every limit", () => {
    expect(limitSettings()).toEqual([
      "anvil_rate_time_unit=60s",
      "smtpd_client_connection_count_limit=3",
      "smtpd_client_connection_rate_limit=6",
      "smtpd_client_message_rate_limit=2",
    ]);
  });

  it("refuses a client past its simultaneous connections", async () => {
    const open: Session[] = [];
    try {
      for (let i = 0; i < LIMITS.connectionCount; i++) {
        const session = await Session.open();
        open.push(session);
        expect(await session.reply()).toMatch(/^220 /);
      }
      const extra = await Session.open();
      open.push(extra);
      expect(await extra.reply()).toMatch(/^421 4\.7\.0 .*too many connections from 127\.0\.0\.1/);
    } finally {
      for (const session of open) session.close();
    }
  });

  it("refuses a client past its messages per minute", async () => {
    const session = await Session.open();
    try {
      expect(await session.reply()).toMatch(/^220 /);
      expect(await session.send("EHLO client.example.net")).toMatch(/^250 /);
      const answers: string[] = [];
      for (let i = 0; i < LIMITS.messageRatePerMinute + 1; i++) {
        answers.push(await session.send("MAIL FROM:<sender@example.net>"));
        await session.send("RSET");
      }
      expect(answers.slice(0, LIMITS.messageRatePerMinute).every((answer) => answer.startsWith("250"))).toBe(true);
      expect(answers[LIMITS.messageRatePerMinute]).toMatch(/^450 4\.7\.1 .*too much mail from 127\.0\.0\.1/);
    } finally {
      session.close();
    }
  });

  it("refuses a client past its connections per minute", async () => {
    // The earlier cases made connections in this minute too; the rate limit counts them all.
    const greetings: string[] = [];
    for (let i = 0; i < LIMITS.connectionRatePerMinute + 1; i++) {
      const session = await Session.open();
      greetings.push(await session.reply());
      await session.send("QUIT");
      session.close();
    }
    expect(greetings.at(-1)).toMatch(/^421 4\.7\.0 .*too many connections from 127\.0\.0\.1/);
    expect(greetings.filter((greeting) => greeting.startsWith("421")).length).toBeGreaterThan(0);
  });
});
