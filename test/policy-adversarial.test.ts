// Generated insecure variants of the prod config that a careless or hostile change might try, each
// refused by the config with the key and the rule named, and their harmless siblings accepted:
// allow-lists that add up to the internet (judged as a union), and relaxations the stack file
// grants itself (bound to the stack name by the pack). Counts are printed for the closing note.
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, formatProblem, loadConfig } from "../config/load";
import { RELAXABLE_RULES, RULE_NAMES, RULES } from "../common/policy-catalog";
import { baseConfig, ED25519_KEY, rawConfig, type ConfigObject } from "./fixtures";

const counts = { refused: 0, accepted: 0 };
afterAll(() => {
  process.stdout.write(
    `adversarial config suite: ${counts.refused} insecure variants refused, ${counts.accepted} harmless siblings accepted\n`,
  );
});

/** The problems loadConfig reports for `config` in `stack`, as "key: message" lines. */
function problems(config: ConfigObject, stack = "prod"): string[] {
  try {
    loadConfig({ ...rawConfig(config), stack });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem);
    throw error;
  }
}

function refused(config: ConfigObject, key: RegExp, stack = "prod"): void {
  const found = problems(config, stack);
  expect(
    found.some((line) => key.test(line)),
    `expected ${String(key)} in:\n${found.join("\n")}`,
  ).toBe(true);
  counts.refused++;
}

function accepted(config: ConfigObject, stack = "prod"): void {
  expect(problems(config, stack)).toEqual([]);
  counts.accepted++;
}

/** A deterministic PRNG (mulberry32), so the generated variants are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const shuffled = <T>(items: readonly T[], random: () => number): T[] => {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
};

/** 0.0.0.0/0 split into 2^k equal IPv4 blocks. */
const ipv4Split = (k: number) =>
  Array.from({ length: 2 ** k }, (_, i) => `${Math.floor((i * 256) / 2 ** k)}.0.0.0/${k}`).filter(
    (entry, index, all) => all.indexOf(entry) === index,
  );
/** ::/0 split into 2^k equal IPv6 blocks. */
const ipv6Split = (k: number) =>
  Array.from({ length: 2 ** k }, (_, i) => `${((i * 0x10000) / 2 ** k).toString(16)}::/${k}`);
/** `n` public /8s (skipping 10/8 and 127/8), from `start`. */
const slashEights = (n: number, start = 1) =>
  Array.from({ length: 223 }, (_, i) => i + 1)
    .filter((octet) => octet !== 10 && octet !== 127 && octet >= start)
    .slice(0, n)
    .map((octet) => `${octet}.0.0.0/8`);

/** Allow-lists that cover far more of the internet than an admin network, in many shapes. */
function wideLists(): string[][] {
  const random = prng(21);
  const lists: string[][] = [];
  for (let k = 0; k <= 8; k++) lists.push(ipv4Split(k));
  for (let k = 0; k <= 6; k++) lists.push(ipv6Split(k));
  for (const n of [2, 3, 17, 64, 128, 200, 221]) lists.push(slashEights(n));
  // /16 blocks: two of them already exceed the limit of one /16.
  for (const n of [2, 3, 40, 255]) lists.push(Array.from({ length: n }, (_, i) => `${i + 1}.${i}.0.0/16`));
  // The same lists mixed with the admin network, shuffled, and with IPv4-mapped IPv6 spellings.
  for (const list of [...lists]) lists.push(shuffled(["10.3.0.0/24", ...list], random));
  lists.push(["::ffff:0.0.0.0/97", "::ffff:128.0.0.0/97"]);
  return lists;
}

/** Lists that stay inside the admin networks or one public /16 in total. */
const narrowLists = (): string[][] => [
  ["10.3.0.0/24"],
  ["10.3.0.0/25", "10.3.0.128/25"],
  ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
  ["10.3.0.0/24", "fd03::/64"],
  ["134.255.0.0/17", "134.255.128.0/17"],
  ["2a05:bec0:27::/48"],
];

describe("allow-lists are judged as a union", () => {
  it.each(wideLists().map((list) => [list.length, list.slice(0, 3).join(", "), list] as const))(
    "admin.sshCidrs of %i entries (%s…) is refused",
    (_, __, list) => {
      const config = baseConfig();
      (config.admin as ConfigObject).sshCidrs = list;
      refused(config, new RegExp(`^mailstack:admin\\.sshCidrs.*${RULES.sshSources.name}`));
    },
  );

  it.each(wideLists().map((list) => [list.length, list.slice(0, 3).join(", "), list] as const))(
    "mailcow.apiAllowFrom of %i entries (%s…) is refused",
    (_, __, list) => {
      const config = baseConfig();
      config.mailcow = { apiAllowFrom: list };
      refused(config, new RegExp(`^mailstack:mailcow\\.apiAllowFrom.*${RULES.adminPorts.name}`));
    },
  );

  it("refuses an API allow-list entry outside the admin networks, naming the entry", () => {
    for (const entry of ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/64", "10.4.0.0/24"]) {
      const config = baseConfig();
      config.mailcow = { apiAllowFrom: ["10.3.0.0/24", entry] };
      refused(config, /^mailstack:mailcow\.apiAllowFrom\[1\].*not inside the admin networks/);
    }
  });

  it.each(narrowLists().map((list) => [list.join(", "), list] as const))(
    "accepts the admin list %s, and the same list for the API",
    (_, list) => {
      const config = baseConfig();
      (config.admin as ConfigObject).sshCidrs = list;
      accepted(config);
      config.mailcow = { apiAllowFrom: list };
      accepted(config);
    },
  );
});

describe("what a stack may relax is the pack's to decide, by the stack's name", () => {
  const subsets = (items: readonly string[]) =>
    Array.from({ length: 2 ** items.length - 1 }, (_, mask) => items.filter((_, i) => ((mask + 1) >> i) & 1));
  const strict = RULE_NAMES.filter((name) => !RELAXABLE_RULES.includes(name));

  it.each(["prod", "production", "live", "prod-eu"])(
    "refuses every relaxation in %s, whatever environment its stack file claims",
    (stack) => {
      for (const environment of ["production", "staging"])
        for (const advisory of [...subsets(RELAXABLE_RULES), ...strict.map((name) => [name])]) {
          const config = { ...baseConfig(), environment, policy: { advisory } };
          refused(config, /^mailstack:(policy\.advisory\[0\]|environment)/, stack);
        }
      // The label alone is refused too: "staging" is a stack the pack lists, not a claim.
      refused(
        { ...baseConfig(), environment: "staging" },
        /^mailstack:environment.*production to the policy pack/,
        stack,
      );
    },
  );

  it("lets the staging stack lower its relaxable rules only", () => {
    for (const advisory of subsets(RELAXABLE_RULES))
      accepted({ ...baseConfig(), environment: "staging", policy: { advisory } }, "staging");
    for (const name of strict)
      refused(
        { ...baseConfig(), environment: "staging", policy: { advisory: [name] } },
        new RegExp(`^mailstack:policy\\.advisory\\[0\\] = "${name}": ${name} guards something`),
        "staging",
      );
  });
});

describe("what a production stack may not switch off (refused with the key; allowed in staging)", () => {
  const pbs = {
    server: "pbs.example.org",
    datastore: "mailcow",
    username: "mailstack@pbs",
    fingerprint: Array.from({ length: 32 }, () => "AB").join(":"),
  };
  const offsite = (change: ConfigObject = {}) => ({
    repository: "s3:https://s3.example.com/bucket/mailcow",
    ...change,
  });
  const withBackup = (backup: ConfigObject): ConfigObject => ({ ...baseConfig(), backup: { pbs, ...backup } });
  const mailbox = (change: ConfigObject): ConfigObject => {
    const config = baseConfig();
    const [domain] = config.domains as ConfigObject[];
    (domain as ConfigObject).mailboxes = [{ localPart: "alice", quotaMiB: 1024, ...change }];
    return config;
  };
  const cases: { title: string; config: ConfigObject; key: RegExp }[] = [
    ...[
      "*-01-01 03:30",
      "*-*-01 03:30",
      "*-*-1,15 03:30",
      "Sun *-*-* 03:30",
      "Mon,Thu *-*-* 03:30",
      "Mon..Fri *-*-* 03:00:00 Europe/Berlin",
      "weekly",
      "monthly",
      "yearly",
    ].map((schedule) => ({
      title: `off-site schedule ${schedule}`,
      config: withBackup({ offsite: offsite({ schedule }) }),
      key: /^mailstack:backup\.offsite\.schedule.*less than daily/,
    })),
    ...[49, 72, 168, 100000].map((maxAgeHours) => ({
      title: `off-site maxAgeHours ${maxAgeHours}`,
      config: withBackup({ offsite: offsite({ maxAgeHours }) }),
      key: /^mailstack:backup\.offsite\.maxAgeHours/,
    })),
    ...[1, 2, 6].flatMap((daily) => [
      {
        title: `PBS retention of ${daily} daily`,
        config: withBackup({ retention: { daily } }),
        key: /^mailstack:backup\.retention\.daily/,
      },
      {
        title: `off-site retention of ${daily} daily`,
        config: withBackup({ offsite: offsite({ retention: { daily } }) }),
        key: /^mailstack:backup\.offsite\.retention\.daily/,
      },
    ]),
    {
      title: "daily snapshots only",
      config: withBackup({ retention: { daily: 7, weekly: 0, monthly: 0, yearly: 0 } }),
      key: /^mailstack:backup\.retention = .*daily snapshots only/,
    },
    {
      title: "off-site: one daily snapshot and nothing else",
      config: withBackup({ offsite: offsite({ retention: { daily: 1, weekly: 0, monthly: 0, yearly: 0 } }) }),
      key: /^mailstack:backup\.offsite\.retention/,
    },
    { title: "an empty DMARC rua", config: { ...baseConfig(), dmarc: { rua: [] } }, key: /^mailstack:dmarc\.rua/ },
    {
      title: "forcePasswordUpdate: false",
      config: mailbox({ forcePasswordUpdate: false }),
      key: /^mailstack:domains\[0\]\.mailboxes\[0\]\.forcePasswordUpdate/,
    },
    ...(["imap", "pop3", "sieve"] as const).map((service) => ({
      title: `plain ${service} to the WAN`,
      config: { ...baseConfig(), services: { [service]: true } },
      key: new RegExp(`^mailstack:services\\.${service}.*plain`),
    })),
    ...["root@pam", "root@pam!backup", "ROOT@PAM"].map((username) => ({
      title: `PBS user ${username}`,
      config: { ...baseConfig(), backup: { pbs: { ...pbs, username } } },
      key: /^mailstack:backup\.pbs\.username.*root@pam/,
    })),
  ];

  it.each(cases.map((c) => [c.title, c] as const))("%s", (_, c) => {
    refused(c.config, c.key);
    // The same in the staging stack is a decision staging may make (the PBS root user is not).
    if (/PBS user/.test(c.title)) refused({ ...c.config, environment: "staging" }, c.key, "staging");
    else accepted({ ...c.config, environment: "staging" }, "staging");
  });

  it("accepts daily schedules, a bounded max age and a real retention in prod", () => {
    for (const schedule of [
      "*-*-* 03:30",
      "*-*-* 00:15",
      "*-*-* 03:00:00 Europe/Berlin",
      "Mon..Sun *-*-* 03:30",
      "daily",
    ])
      accepted(withBackup({ offsite: offsite({ schedule, maxAgeHours: 48 }) }));
    accepted(withBackup({ retention: { daily: 7, weekly: 0, monthly: 3 } }));
  });
});

describe("credentials in plain text under other namespaces", () => {
  const keys = [
    "cloudflare:apiToken",
    "cloudflare:apiKey",
    "proxmoxve:password",
    "proxmoxve:apiToken",
    "aws:secretKey",
    "command:privateKey",
    "random:secret",
  ];
  it.each(keys)("refuses %s in plain text, and accepts it as a secret", (key) => {
    const raw = rawConfig(baseConfig());
    const values = { ...raw.values, [key]: "plain-value" };
    const found = (() => {
      try {
        loadConfig({ ...raw, values });
        return [];
      } catch (error) {
        return error instanceof ConfigError ? error.problems.map(formatProblem) : [String(error)];
      }
    })();
    expect(found.join("\n")).toContain(`${key}: looks like a credential and is stored in plain text`);
    expect(found.join("\n")).not.toContain("plain-value");
    counts.refused++;
    expect(() => loadConfig({ ...raw, values, isSecret: (k) => k === key || raw.isSecret(k) })).not.toThrow();
    counts.accepted++;
  });
  it("accepts a provider's ordinary settings in plain text", () => {
    const raw = rawConfig(baseConfig());
    const values = { ...raw.values, "proxmoxve:endpoint": "https://pve:8006/", "cloudflare:email": "a@example.org" };
    expect(() => loadConfig({ ...raw, values })).not.toThrow();
    counts.accepted++;
  });
});

describe("SSH key lines that would smuggle a second key, options or shell text", () => {
  const weak = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 weak@attacker";
  const separators = ["\n", "\r", "\r\n", "\u0000", "\u000b", "\u000c", "\u0085", "\u2028", "\u2029", "\t\n"];
  const payloads = [weak, 'permitlisten="0.0.0.0:25" ' + ED25519_KEY, "MAILSTACK_EOF", 'command="id"'];
  const variants = [
    ...separators.flatMap((sep) => payloads.map((payload) => `${ED25519_KEY}${sep}${payload}`)),
    ...["'", '"', "$(id)", "`id`", "\\", "${IFS}", ";id", "|id", "&id", "<x", ">x"].map(
      (text) => `${ED25519_KEY} ops${text}`,
    ),
    ...["MAILSTACK_EOF", "MAILSTACK_HOST_EOF", "MAILSTACK_BOUNCER"].map((delimiter) =>
      ED25519_KEY.replace("ops@example.org", delimiter),
    ),
  ];
  it.each(variants.map((key) => [JSON.stringify(key).slice(-40), key] as const))("refuses …%s", (_, key) => {
    for (const path of ["admin.sshKeys", "proxmox.sshHostKey"] as const) {
      const config = baseConfig();
      if (path === "admin.sshKeys") (config.admin as ConfigObject).sshKeys = [key];
      else (config.proxmox as ConfigObject).sshHostKey = key;
      refused(config, path === "admin.sshKeys" ? /^mailstack:admin\.sshKeys\[0\]/ : /^mailstack:proxmox\.sshHostKey/);
    }
  });
  it("accepts the usual comments", () => {
    for (const comment of ["ops@example.org", "alice laptop (2026)", "root@pve", "ci-deploy+mail:prod", ""]) {
      const config = baseConfig();
      (config.admin as ConfigObject).sshKeys = [ED25519_KEY.replace("ops@example.org", comment).trim()];
      accepted(config);
    }
  });
});

describe("values the config accepts must render: operator addresses with shell or conf syntax", () => {
  const addresses = [
    "o'brien@example.org",
    "a$b@example.org",
    'a"b@example.org',
    "a`id`@example.org",
    "a#b@example.org",
    "a\\b@example.org",
  ];
  it.each(addresses)("refuses %s as admin.email and backup.notifyEmail", (address) => {
    const admin = baseConfig();
    (admin.admin as ConfigObject).email = address;
    refused(admin, /^mailstack:admin\.email = /);
    refused({ ...baseConfig(), backup: { notifyEmail: address } }, /^mailstack:backup\.notifyEmail = /);
  });
});
