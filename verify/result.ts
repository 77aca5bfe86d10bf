// The verdicts `verify` reports: one Result per check, with the category, what it concerns
// (domain, host, port, address), pass/warn/fail, and for anything but a pass the fix.

export const CATEGORIES = [
  "dnssec",
  "records",
  "dane",
  "tls",
  "certificate",
  "mta-sts",
  "tls-rpt",
  "spf",
  "dkim",
  "dmarc",
  "caa",
  "ports",
  "ptr",
  "smtp",
] as const;

export type Category = (typeof CATEGORIES)[number];
export type Status = "pass" | "warn" | "fail";

/** What a result concerns. */
export interface Subject {
  readonly domain?: string;
  readonly host?: string;
  readonly port?: number;
  /** The address connected to or looked up (IPv4 or IPv6), when the check is per address family. */
  readonly address?: string;
}

export interface Result extends Subject {
  readonly category: Category;
  /** A stable id of the check, e.g. "tls-versions" (a Prometheus label). */
  readonly check: string;
  readonly status: Status;
  readonly message: string;
  /** What to do about a warning or failure. */
  readonly fix?: string;
  /** Structured findings (accepted protocols, ciphers, groups, …) for --json consumers. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export function pass(
  category: Category,
  check: string,
  subject: Subject,
  message: string,
  details?: Record<string, unknown>,
): Result {
  return { category, check, ...subject, status: "pass", message, ...(details ? { details } : {}) };
}

/** A warning or failure: always with the fix. */
function problem(status: "warn" | "fail") {
  return (
    category: Category,
    check: string,
    subject: Subject,
    message: string,
    fix: string,
    details?: Record<string, unknown>,
  ): Result => ({ category, check, ...subject, status, message, fix, ...(details ? { details } : {}) });
}

export const warn = problem("warn");
export const fail = problem("fail");

export interface Report {
  readonly stack?: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly summary: Readonly<Record<Status, number>>;
  readonly results: readonly Result[];
}

export function summarize(results: readonly Result[]): Record<Status, number> {
  const summary: Record<Status, number> = { pass: 0, warn: 0, fail: 0 };
  for (const result of results) summary[result.status]++;
  return summary;
}

/** "mail.example.org:25 (2001:db8::1)": where a result points. */
export function subjectText(subject: Subject): string {
  const where = subject.host ?? subject.domain ?? "";
  const port = subject.port === undefined ? "" : `:${subject.port}`;
  const address = subject.address && subject.address !== subject.host ? ` (${subject.address})` : "";
  return `${where}${port}${address}`;
}
