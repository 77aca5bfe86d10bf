// The plaintext part of STARTTLS for the raw ClientHello probe and for IMAP, POP3 and
// ManageSieve endpoints (SMTP sessions otherwise go through nodemailer, see session.ts):
// greeting, capability, the STARTTLS command and its positive answer (RFC 3207, RFC 2595,
// RFC 5804). After it resolves the socket is ready for a TLS ClientHello.
import type { Socket } from "node:net";

export type StarttlsProtocol = "smtp" | "imap" | "pop3" | "sieve";

/** The STARTTLS dialect of a port (the endpoints mailstack offers with STARTTLS). */
export function starttlsProtocol(port: number): StarttlsProtocol {
  switch (port) {
    case 143:
      return "imap";
    case 110:
      return "pop3";
    case 4190:
      return "sieve";
    default:
      return "smtp";
  }
}

/** Reads lines until `done` accepts one; resolves with all lines read. */
function readUntil(socket: Socket, done: (line: string) => boolean, timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const lines: string[] = [];
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        lines.push(line);
        if (done(line)) {
          cleanup();
          resolve(lines);
          return;
        }
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`the server closed the connection after: ${lines.join(" | ") || "(nothing)"}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer within ${timeoutMs} ms after: ${lines.join(" | ") || "(nothing)"}`));
    }, timeoutMs);
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}

const smtpFinal = (line: string) => /^\d{3}(?: |$)/.test(line);

async function expect(
  socket: Socket,
  command: string | undefined,
  done: (line: string) => boolean,
  ok: (lines: string[]) => boolean,
  timeoutMs: number,
): Promise<string[]> {
  if (command !== undefined) socket.write(`${command}\r\n`);
  const lines = await readUntil(socket, done, timeoutMs);
  if (!ok(lines)) throw new Error(`${command ?? "greeting"}: ${lines.join(" | ")}`);
  return lines;
}

/** Runs the protocol's STARTTLS dialogue on a connected socket. */
export async function plainStarttls(
  socket: Socket,
  protocol: StarttlsProtocol,
  clientName: string,
  timeoutMs: number,
): Promise<void> {
  const last = (lines: string[]) => lines[lines.length - 1] ?? "";
  switch (protocol) {
    case "smtp": {
      await expect(socket, undefined, smtpFinal, (l) => last(l).startsWith("220"), timeoutMs);
      const ehlo = await expect(socket, `EHLO ${clientName}`, smtpFinal, (l) => last(l).startsWith("250"), timeoutMs);
      if (!ehlo.some((line) => /^250[ -]STARTTLS\b/i.test(line))) throw new Error("STARTTLS is not offered");
      await expect(socket, "STARTTLS", smtpFinal, (l) => last(l).startsWith("220"), timeoutMs);
      return;
    }
    case "imap":
      await expect(
        socket,
        undefined,
        (line) => line.startsWith("* "),
        (l) => /^\* OK/i.test(last(l)),
        timeoutMs,
      );
      await expect(
        socket,
        "a1 STARTTLS",
        (line) => line.startsWith("a1 "),
        (l) => /^a1 OK/i.test(last(l)),
        timeoutMs,
      );
      return;
    case "pop3":
      await expect(
        socket,
        undefined,
        () => true,
        (l) => last(l).startsWith("+OK"),
        timeoutMs,
      );
      await expect(
        socket,
        "STLS",
        () => true,
        (l) => last(l).startsWith("+OK"),
        timeoutMs,
      );
      return;
    case "sieve": {
      const final = (line: string) => /^(OK|NO|BYE)\b/i.test(line);
      await expect(socket, undefined, final, (l) => /^OK/i.test(last(l)), timeoutMs);
      await expect(socket, "STARTTLS", final, (l) => /^OK/i.test(last(l)), timeoutMs);
      return;
    }
  }
}
