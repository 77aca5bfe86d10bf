// A fake pfSense REST API (pfrest v2) on loopback, following its documented contract: the
// {code, status, response_id, message, data} envelope, X-API-Key auth, singular endpoints by
// `id` and plural list endpoints, ids that are list positions (they renumber when an object
// before them is deleted), changes pending until /firewall/apply, and validation errors. Control
// parameters (apply, async, placement) are read from the body of a POST or PATCH and from the
// query of a GET or DELETE, as pfrest does; in the wrong place they are ignored.
import { FakeHttpsApi, type JsonReply, type LoggedRequest, type TestCertificate } from "./https";

type Kind = "alias" | "rule" | "port_forward";
export type PfObject = Record<string, unknown>;

const ROUTES: Readonly<Record<string, { kind: Kind; plural: boolean }>> = {
  "/api/v2/firewall/alias": { kind: "alias", plural: false },
  "/api/v2/firewall/aliases": { kind: "alias", plural: true },
  "/api/v2/firewall/rule": { kind: "rule", plural: false },
  "/api/v2/firewall/rules": { kind: "rule", plural: true },
  "/api/v2/firewall/nat/port_forward": { kind: "port_forward", plural: false },
  "/api/v2/firewall/nat/port_forwards": { kind: "port_forward", plural: true },
};

const REQUIRED: Readonly<Record<Kind, readonly string[]>> = {
  alias: ["name", "type"],
  rule: ["type", "interface", "ipprotocol"],
  port_forward: ["interface", "protocol", "target", "destination_port"],
};

function envelope(code: number, responseId: string, message: string, data: unknown): JsonReply {
  const status = code === 200 ? "ok" : code === 401 ? "unauthorized" : code === 404 ? "not found" : "bad request";
  return { status: code, body: { code, status, response_id: responseId, message, data } };
}

export class FakePfRest {
  readonly api: FakeHttpsApi;
  readonly objects: Record<Kind, PfObject[]> = { alias: [], rule: [], port_forward: [] };
  pending = false;
  applies = 0;

  constructor(
    certificate: TestCertificate,
    readonly apiKey: string,
  ) {
    this.api = new FakeHttpsApi(certificate, (request) => this.handle(request));
  }

  /** Someone else edits pfSense: adds or removes objects outside the provider. */
  addForeign(kind: Kind, object: PfObject, placement?: number): void {
    const list = this.objects[kind];
    list.splice(placement ?? list.length, 0, { ...object });
  }

  removeAt(kind: Kind, position: number): void {
    this.objects[kind].splice(position, 1);
  }

  find(kind: Kind, marker: string): { position: number; object: PfObject } | undefined {
    const position = this.objects[kind].findIndex((o) => typeof o.descr === "string" && o.descr.includes(marker));
    const object = this.objects[kind][position];
    return object ? { position, object } : undefined;
  }

  private handle(request: LoggedRequest): JsonReply {
    if (request.headers["x-api-key"] !== this.apiKey) {
      return envelope(401, "AUTH_AUTHENTICATION_FAILED", "Authentication failed.", []);
    }
    if (request.path === "/api/v2/firewall/apply") {
      if (request.method === "GET")
        return envelope(200, "SUCCESS", "", {
          applied: !this.pending,
          pending_subsystems: this.pending ? ["filter"] : [],
        });
      if (request.method === "POST") {
        this.pending = false;
        this.applies++;
        return envelope(200, "SUCCESS", "", { applied: true, pending_subsystems: [] });
      }
    }
    const route = ROUTES[request.path];
    if (!route) return envelope(404, "ENDPOINT_NOT_FOUND", `Endpoint ${request.path} does not exist.`, []);
    const list = this.objects[route.kind];
    const withId = (object: PfObject, id: number) => ({ id, ...object });

    if (route.plural) {
      if (request.method === "GET") return envelope(200, "SUCCESS", "", list.map(withId));
      return envelope(405, "METHOD_NOT_ALLOWED", `${request.method} is not allowed here.`, []);
    }
    const inQuery = request.method === "GET" || request.method === "DELETE";
    const { apply, async: _async, placement, ...body } = (inQuery ? {} : (request.body ?? {})) as PfObject;
    const control = inQuery ? request.query : { apply, placement };
    const changed = () => {
      // apply=true applies at once; otherwise the change is pending until /firewall/apply.
      if (control.apply === true || control.apply === "true") this.applies++;
      else this.pending = true;
    };
    const position = (at: number) =>
      control.placement === undefined ? at : Math.min(Number(control.placement), list.length);
    const idText = inQuery ? request.query.id : body.id;
    const id = idText === undefined ? undefined : Number(idText);
    const lookup = () => (id !== undefined && Number.isInteger(id) && list[id] ? list[id] : undefined);

    switch (request.method) {
      case "GET": {
        const object = lookup();
        return object
          ? envelope(200, "SUCCESS", "", withId(object, id ?? 0))
          : envelope(404, "MODEL_OBJECT_NOT_FOUND", `Object with ID \`${String(idText)}\` does not exist.`, []);
      }
      case "POST": {
        const missing = REQUIRED[route.kind].filter((field) => body[field] === undefined || body[field] === "");
        if (missing.length > 0)
          return envelope(400, "MODEL_FIELD_IS_REQUIRED", `Field \`${missing[0]}\` is required.`, []);
        if (route.kind === "alias") {
          const name = String(body.name);
          if (!/^[A-Za-z0-9_]{1,31}$/.test(name))
            return envelope(
              400,
              "ALIAS_NAME_INVALID",
              `Field \`name\` must be 1-31 letters, digits or underscores.`,
              [],
            );
          if (list.some((alias) => alias.name === name))
            return envelope(
              400,
              "MODEL_FIELD_MUST_BE_UNIQUE",
              `Field \`name\` must be unique. \`${name}\` is already in use.`,
              [],
            );
        }
        const { id: _ignored, ...fields } = body;
        const at = position(list.length);
        list.splice(at, 0, fields);
        changed();
        return envelope(200, "SUCCESS", "", withId(fields, at));
      }
      case "PATCH": {
        const object = lookup();
        if (!object)
          return envelope(404, "MODEL_OBJECT_NOT_FOUND", `Object with ID \`${String(idText)}\` does not exist.`, []);
        if (route.kind === "alias" && body.name !== undefined && body.name !== object.name) {
          return envelope(400, "ALIAS_NAME_IMMUTABLE", "Field `name` cannot be changed.", []);
        }
        const { id: _ignored, ...fields } = body;
        Object.assign(object, fields);
        // placement moves the object (the UI's drag and drop).
        list.splice(id ?? 0, 1);
        const at = position(id ?? 0);
        list.splice(at, 0, object);
        changed();
        return envelope(200, "SUCCESS", "", withId(object, at));
      }
      case "DELETE": {
        const object = lookup();
        if (!object)
          return envelope(404, "MODEL_OBJECT_NOT_FOUND", `Object with ID \`${String(idText)}\` does not exist.`, []);
        list.splice(id ?? 0, 1);
        changed();
        return envelope(200, "SUCCESS", "", withId(object, id ?? 0));
      }
      default:
        return envelope(405, "METHOD_NOT_ALLOWED", `${request.method} is not allowed here.`, []);
    }
  }
}
