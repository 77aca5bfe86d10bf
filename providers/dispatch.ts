// One dynamic provider object for several resource kinds: Pulumi serializes a provider object
// once per deployment, so resources of one API share one provider that dispatches on `kind`.
import type * as pulumi from "@pulumi/pulumi";

export type Props = Record<string, unknown>;
type Provider = pulumi.dynamic.ResourceProvider<Props, Props>;

/** Typed per-kind providers, seen through their common shape. */
export function handlers<T extends Record<string, object>>(byKind: T): Readonly<Record<keyof T & string, Provider>> {
  return byKind as unknown as Readonly<Record<keyof T & string, Provider>>;
}

export function dispatchingProvider(handlerOf: (kind: unknown) => Provider): Provider {
  return {
    check(olds, news) {
      const check = handlerOf(news.kind).check;
      return check ? check(olds, news) : Promise.resolve({ inputs: news });
    },
    async create(inputs) {
      const result = await handlerOf(inputs.kind).create(inputs);
      return { ...result, outs: { ...result.outs, kind: inputs.kind } };
    },
    async read(id, props) {
      const read = handlerOf(props?.kind).read;
      const result = read ? await read(id, props) : { id, props };
      return result.props ? { ...result, props: { ...result.props, kind: props?.kind } } : result;
    },
    diff(id, olds, news) {
      const diff = handlerOf(news.kind).diff;
      return diff ? diff(id, olds, news) : Promise.resolve({});
    },
    async update(id, olds, news) {
      const update = handlerOf(news.kind).update;
      const result = update ? await update(id, olds, news) : { outs: news };
      return { outs: { ...result.outs, kind: news.kind } };
    },
    async delete(id, props) {
      await handlerOf(props.kind).delete?.(id, props);
    },
  };
}
