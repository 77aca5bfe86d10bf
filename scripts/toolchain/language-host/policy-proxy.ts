// The Analyzer server the language host puts in front of a Node.js policy pack. The engine of
// pulumi/pulumi v3.248.0 starts a policy pack through the language host's RunPlugin (kind
// "analyzer"; sdk/go/common/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer) and then calls
// Handshake and ConfigureStack on it. A pack built with @pulumi/policy reads the stack, project
// and config from the environment when it loads, so it can only be started once ConfigureStack
// has told us them. Upstream does this with sdk.PolicyProxy (sdk/policy_proxy.go at v3.248.0);
// this is our own implementation of the same contract:
//   - our port is the first line the engine reads;
//   - Handshake is answered here; ConfigureStack is kept, answered, and starts the pack (any other
//     call before it starts the pack without configuration, as for `pulumi policy publish`);
//   - the pack's first stdout line is its port; ConfigureStack is passed on to it (UNIMPLEMENTED
//     is fine) and every later call is forwarded to it byte for byte.
import * as grpc from "@grpc/grpc-js";
import { AnalyzerService } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { AnalyzerStackConfigureRequest } from "@pulumi/pulumi/proto/analyzer_pb";

export interface StackConfiguration {
  readonly organization: string;
  readonly project: string;
  readonly stack: string;
  readonly dryRun: boolean;
  readonly config: Readonly<Record<string, string>>;
  /** The request as the engine sent it, passed on to the pack. */
  readonly raw: Buffer;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  const result: Deferred<T> = {
    promise,
    settled: false,
    resolve: (value) => {
      if (result.settled) return;
      result.settled = true;
      resolve(value);
    },
    reject: (error) => {
      if (result.settled) return;
      result.settled = true;
      reject(error);
    },
  };
  // A rejection nobody awaits yet must not end the process.
  promise.catch(() => undefined);
  return result;
}

const raw = (value: Buffer) => value;

/** Serves the Analyzer service on loopback and forwards it to the pack once that runs. */
export class PolicyProxy {
  private readonly server = new grpc.Server();
  private readonly configuration = deferred<StackConfiguration | undefined>();
  private readonly pack = deferred<grpc.Client>();
  port = 0;

  async start(): Promise<number> {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(AnalyzerService) as [
      string,
      grpc.MethodDefinition<unknown, unknown>,
    ][]) {
      definition[name] = {
        ...method,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      };
      handlers[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        this.handle(name, method.path, call, callback);
    }
    this.server.addService(definition, handlers);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return this.port;
  }

  /** Resolves with the stack configuration (undefined when the engine asked something else first). */
  awaitConfiguration(): Promise<StackConfiguration | undefined> {
    return this.configuration.promise;
  }

  /** Connects to the pack listening on `port`, hands it the configuration, and serves through it. */
  async attach(port: number): Promise<void> {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const configuration = await this.configuration.promise;
      if (configuration) {
        const path = AnalyzerService.configureStack.path;
        await new Promise<void>((resolve, reject) =>
          client.makeUnaryRequest(path, raw, raw, configuration.raw, (error) =>
            !error || error.code === grpc.status.UNIMPLEMENTED
              ? resolve()
              : reject(new Error(`policy pack configuration failed: ${error.details || error.message}`)),
          ),
        );
      }
      this.pack.resolve(client);
    } catch (error) {
      client.close();
      this.pack.reject(error);
      throw error;
    }
  }

  /** The pack could not be started: every call waiting for it fails with this. */
  fail(error: Error): void {
    this.configuration.resolve(undefined);
    this.pack.reject(error);
  }

  stop(): void {
    void this.pack.promise.then((client) => client.close()).catch(() => undefined);
    this.server.forceShutdown();
  }

  private handle(
    name: string,
    path: string,
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    callback: grpc.sendUnaryData<Buffer>,
  ): void {
    if (name === "handshake") {
      // AnalyzerHandshakeResponse has no fields: its encoding is empty.
      callback(null, Buffer.alloc(0));
      return;
    }
    if (name === "configureStack" && !this.configuration.settled) {
      let request: AnalyzerStackConfigureRequest;
      try {
        request = AnalyzerStackConfigureRequest.deserializeBinary(call.request);
      } catch (error) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: `ConfigureStack: ${(error as Error).message}` });
        return;
      }
      this.configuration.resolve({
        organization: request.getOrganization(),
        project: request.getProject(),
        stack: request.getStack(),
        dryRun: request.getDryRun(),
        config: Object.fromEntries(request.getConfigMap().toArray()),
        raw: call.request,
      });
      callback(null, Buffer.alloc(0));
      return;
    }
    // Anything else: the pack has to run (without configuration if none came first).
    this.configuration.resolve(undefined);
    this.pack.promise.then(
      (client) => client.makeUnaryRequest(path, raw, raw, call.request, (error, response) => callback(error, response)),
      (error: unknown) =>
        callback({ code: grpc.status.UNAVAILABLE, details: `policy pack not started: ${(error as Error).message}` }),
    );
  }
}
