/**
 * The one fixture of the end-to-end tests that use the bucket: `useBucket` registers node:test hooks
 * that (when asked) start the Docker engine, create a fresh bucket on the real gateway (versioned when
 * asked), put the B2-strict proxy in front of it and open a store on it; after the tests, the fault
 * proxies the file opened, the store, the proxy, the bucket (every version) and the containers the file
 * started are all removed. Call it at the top of a file or inside a `describe`.
 */
import { after, before } from 'node:test';
import { createStore, type Store } from '../../src/store/client.js';
import { startB2StrictProxy, type B2StrictProxy } from './b2-strict-proxy.js';
import { ensureDocker, removeStartedContainers } from './docker.js';
import { startFaultProxy, type Fault, type FaultProxy, type FaultRequest } from './fault-proxy.js';
import { createTestBucket, ensureS3, removeTestBucket, toolEnvFor, storeConfigFor, type S3TestEnv } from './s3.js';

export interface BucketFixture {
  /**
   * Settles when the bucket is ready. Await it first in a top-level `before` of your own: Node 20 starts
   * top-level hooks without waiting for the ones registered earlier.
   */
  readonly ready: Promise<void>;
  readonly s3: S3TestEnv;
  readonly bucket: string;
  /** The B2-strict proxy in front of the gateway. */
  readonly strict: B2StrictProxy;
  /** A store on the bucket, straight to the gateway (to arrange and inspect what the tools see). */
  readonly store: Store;
  /** The S3 variables that point the tools at the bucket, through the strict proxy unless `endpoint` is given. */
  toolEnv(endpoint?: string): Record<string, string>;
  /** A fault proxy in front of the strict proxy, closed after the tests. */
  faultProxy(choose: (req: FaultRequest) => Fault | undefined): Promise<FaultProxy>;
}

export interface BucketOptions {
  versioned?: boolean;
  /** Start the engine first, and remove the containers this file started afterwards. */
  docker?: boolean;
}

/** Register the hooks and return the fixture; its fields are there once the `before` hooks ran. */
export function useBucket(tag: string, options: BucketOptions = {}): BucketFixture {
  let ready: { s3: S3TestEnv; bucket: string; strict: B2StrictProxy; store: Store } | undefined;
  const proxies: FaultProxy[] = [];
  const parts = { s3: undefined as S3TestEnv | undefined, bucket: '', strict: undefined as B2StrictProxy | undefined };
  let settle: (error?: unknown) => void = () => undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // A failed setup fails the fixture's own hook; a second report through this promise is not needed.
  readyPromise.catch(() => undefined);
  const get = (): NonNullable<typeof ready> => {
    if (!ready) throw new Error('useBucket: the fixture is used before its before() hook ran');
    return ready;
  };

  before(async () => {
    try {
      if (options.docker) await ensureDocker();
      parts.s3 = await ensureS3();
      parts.bucket = await createTestBucket(parts.s3, { tag, versioned: options.versioned });
      parts.strict = await startB2StrictProxy(parts.s3.endpoint);
      const store = await createStore(storeConfigFor(parts.s3, parts.bucket));
      ready = { s3: parts.s3, bucket: parts.bucket, strict: parts.strict, store };
      settle();
    } catch (err) {
      settle(err);
      throw err;
    }
  });

  after(async () => {
    if (options.docker) await removeStartedContainers();
    for (const proxy of proxies) await proxy.close();
    ready?.store.close();
    await parts.strict?.close();
    if (parts.s3 && parts.bucket) await removeTestBucket(parts.s3, parts.bucket);
  });

  return {
    ready: readyPromise,
    get s3() {
      return get().s3;
    },
    get bucket() {
      return get().bucket;
    },
    get strict() {
      return get().strict;
    },
    get store() {
      return get().store;
    },
    toolEnv: (endpoint?: string) => toolEnvFor(get().s3, get().bucket, endpoint ?? get().strict.url),
    faultProxy: async (choose) => {
      const proxy = await startFaultProxy(get().strict.url, choose);
      proxies.push(proxy);
      return proxy;
    },
  };
}
