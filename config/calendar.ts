// Validation of systemd calendar event expressions (systemd.time(7), "Calendar Events"),
// used for backup schedules: the off-site systemd timers take this syntax, Proxmox backup jobs
// a subset of it (proxmoxCalendarProblem). Pure; checked against `systemd-analyze calendar`.
//
//   [WEEKDAYS] [[YEAR-]MONTH-DAY | [YEAR-]MONTH~DAY] [HOUR:MINUTE[:SECOND]] [TIMEZONE]
//   or one of the shorthands (daily, weekly, …), optionally followed by a timezone.

const SHORTHANDS = new Set([
  "minutely",
  "hourly",
  "daily",
  "monthly",
  "weekly",
  "yearly",
  "annually",
  "quarterly",
  "semiannually",
]);

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEKDAY_LONG = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

function weekdayIndex(name: string): number {
  const lower = name.toLowerCase();
  const short = WEEKDAYS.indexOf(lower);
  return short >= 0 ? short : WEEKDAY_LONG.indexOf(lower);
}

function weekdaysProblem(token: string): string | undefined {
  for (const item of token.split(",")) {
    const [from, to, extra] = item.split("..");
    if (extra !== undefined || from === undefined) return `weekday list "${token}" is malformed`;
    if (weekdayIndex(from) < 0 || (to !== undefined && weekdayIndex(to) < 0)) {
      return `"${item}" is not a weekday (Mon…Sun) or a range of them (Mon..Fri)`;
    }
    if (to !== undefined && weekdayIndex(to) < weekdayIndex(from)) {
      return `weekday range "${item}" runs backwards; ranges go from Mon to Sun`;
    }
  }
  return undefined;
}

function isWeekdayToken(token: string): boolean {
  return /^[A-Za-z]/.test(token) && token.split(/,|\.\./).every((part) => weekdayIndex(part) >= 0);
}

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly fraction?: boolean;
  /** Repetitions count towards the minimum (days before the end of the month). */
  readonly countsDown?: boolean;
}

const NUMBER = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d{1,6})?$/;

function valueProblem(text: string, field: Field): string | undefined {
  const pattern = field.fraction ? DECIMAL : NUMBER;
  if (!pattern.test(text)) return `${field.name} "${text}" is not a number`;
  const value = Number(text);
  if (value < field.min || value > field.max) {
    return `${field.name} ${text} is outside ${field.min}–${field.max}`;
  }
  return undefined;
}

function componentProblem(text: string, field: Field): string | undefined {
  if (text.length === 0) return `the ${field.name} is missing`;
  for (const item of text.split(",")) {
    const [range, repeat, extra] = item.split("/");
    if (extra !== undefined || range === undefined) return `${field.name} "${item}" is malformed`;
    if (repeat !== undefined) {
      const pattern = field.fraction ? DECIMAL : NUMBER;
      if (!pattern.test(repeat) || Number(repeat) === 0) {
        return `repetition "/${repeat}" in the ${field.name} must be a positive number`;
      }
    }
    if (range === "*") {
      if (repeat !== undefined) return `"*/${repeat}" is not allowed; write the start value, e.g. "0/${repeat}"`;
      continue;
    }
    const [from, to, tooMany] = range.split("..");
    if (tooMany !== undefined || from === undefined) return `${field.name} range "${range}" is malformed`;
    const problem = valueProblem(from, field) ?? (to === undefined ? undefined : valueProblem(to, field));
    if (problem) return problem;
    if (to !== undefined && Number(to) <= Number(from)) {
      return Number(to) === Number(from)
        ? `${field.name} range "${range}" has one value; write "${from}"`
        : `${field.name} range "${range}" runs backwards`;
    }
    // systemd wants at least one repetition inside the field's range ("22/2" hours does not parse).
    const next = field.countsDown ? Number(from) - Number(repeat) : Number(from) + Number(repeat);
    if (to === undefined && repeat !== undefined && (next > field.max || next < field.min)) {
      return `"${item}" never repeats within the ${field.name} range ${field.min}–${field.max}`;
    }
  }
  return undefined;
}

const YEAR: Field = { name: "year", min: 1970, max: 2199 };
const MONTH: Field = { name: "month", min: 1, max: 12 };
const DAY: Field = { name: "day", min: 1, max: 31 };
const DAY_FROM_END: Field = { name: "day counted from the month's end", min: 1, max: 28, countsDown: true };
const HOUR: Field = { name: "hour", min: 0, max: 23 };
const MINUTE: Field = { name: "minute", min: 0, max: 59 };
const SECOND: Field = { name: "second", min: 0, max: 59, fraction: true };

function dateProblem(token: string): string | undefined {
  // The day may be separated by "~" (counting from the end of the month).
  const tilde = token.indexOf("~");
  const head = tilde >= 0 ? token.slice(0, tilde) : token.slice(0, token.lastIndexOf("-"));
  const day = tilde >= 0 ? token.slice(tilde + 1) : token.slice(token.lastIndexOf("-") + 1);
  const parts = head.split("-");
  if (parts.length > 2 || (tilde >= 0 && day.includes("-"))) return `date "${token}" is not YEAR-MONTH-DAY`;
  // systemd mis-parses some lists of days counted from the month's end; accept the safe forms only.
  if (tilde >= 0 && day.includes(",")) return `"~${day}": use one value or a range after "~"`;
  const [first, second] = parts;
  const [year, month] = second === undefined ? [undefined, first] : [first, second];
  return (
    (year === undefined ? undefined : componentProblem(year, YEAR)) ??
    componentProblem(month ?? "", MONTH) ??
    componentProblem(day, tilde >= 0 ? DAY_FROM_END : DAY)
  );
}

function timeProblem(token: string): string | undefined {
  const parts = token.split(":");
  if (parts.length < 2 || parts.length > 3) return `time "${token}" is not HOUR:MINUTE[:SECOND]`;
  const [hour, minute, second] = parts;
  return (
    componentProblem(hour ?? "", HOUR) ??
    componentProblem(minute ?? "", MINUTE) ??
    (second === undefined ? undefined : componentProblem(second, SECOND))
  );
}

function isTimezone(token: string): boolean {
  if (token === "UTC") return true;
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)+$/.test(token)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: token });
    return true;
  } catch {
    return false;
  }
}

/** Returns why `expression` is not a systemd calendar event, or undefined when it is one. */
export function calendarProblem(expression: string): string | undefined {
  const tokens = expression
    .trim()
    .split(/\s+/)
    .filter((token) => token.length > 0);
  if (tokens.length === 0) return "empty";
  const last = tokens[tokens.length - 1] ?? "";
  if (tokens.length > 1 && isTimezone(last)) tokens.pop();
  if (tokens.length === 1 && SHORTHANDS.has((tokens[0] ?? "").toLowerCase())) return undefined;

  let index = 0;
  const current = (): string | undefined => tokens[index];
  if (current() !== undefined && isWeekdayToken(current() ?? "")) {
    const problem = weekdaysProblem(current() ?? "");
    if (problem) return problem;
    index++;
  }
  let sawDateOrTime = false;
  const date = current();
  if (date !== undefined && !date.includes(":") && /[-~]/.test(date)) {
    const problem = dateProblem(date);
    if (problem) return problem;
    index++;
    sawDateOrTime = true;
  }
  const time = current();
  if (time !== undefined && time.includes(":")) {
    const problem = timeProblem(time);
    if (problem) return problem;
    index++;
    sawDateOrTime = true;
  }
  if (index < tokens.length) return `unexpected "${tokens[index]}"`;
  if (!sawDateOrTime && index === 0) return "no weekday, date or time";
  return undefined;
}

/**
 * Proxmox's calendar events (backup jobs) are systemd's syntax without a timezone (they run in
 * the node's local time), without `~` and with abbreviated weekday names only
 * (pbs.proxmox.com/docs/calendarevents.html). Checked here so that `pulumi up` is not the first
 * to notice.
 */
export function proxmoxCalendarProblem(expression: string): string | undefined {
  const problem = calendarProblem(expression);
  if (problem) return problem;
  const tokens = expression.trim().split(/\s+/);
  const last = tokens[tokens.length - 1] ?? "";
  if (tokens.length > 1 && isTimezone(last)) {
    return `Proxmox schedules take no timezone ("${last}"); they run in the node's local time, so drop it`;
  }
  if (expression.includes("~")) {
    return "Proxmox schedules have no '~' (days counted from the end of the month); name the days instead";
  }
  const long = tokens
    .flatMap((token) => token.split(/,|\.\./))
    .find((part) => WEEKDAY_LONG.includes(part.toLowerCase()));
  return long ? `Proxmox takes abbreviated weekdays (mon…sun), not "${long}"` : undefined;
}
