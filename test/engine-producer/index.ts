// Exports the outputs the test hands over as config: `outputs` (plain JSON without the secret
// values), `secretPaths` (where the secrets go) and `secretOutputs` (a secret: JSON-encoded path →
// value). Each secret is put back at its path as a secret output, so the stack's outputs have
// mailstack's shape, with secrets exactly where mailstack has them.
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const outputs = config.requireObject<Record<string, unknown>>("outputs");
const secretPaths = config.requireObject<string[][]>("secretPaths");
const secretOutputs = config.requireSecretObject<Record<string, unknown>>("secretOutputs");

function put(tree: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) tree[head] = value;
  else put((tree[head] ??= {}) as Record<string, unknown>, rest, value);
}

for (const path of secretPaths) {
  const encoded = JSON.stringify(path);
  put(
    outputs,
    path,
    secretOutputs.apply((all) => all[encoded]),
  );
}

export = outputs;
