/** Where the Docker engine is: DOCKER_HOST parsed the way the docker CLI reads it. */
import { UsageError } from '../core/errors.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; basePath: string; display: string };

/** Parse DOCKER_HOST the way the docker CLI reads it (unix:// and plain tcp:// only). */
export function parseDockerHost(value?: string, tlsVerify?: string): DockerEndpoint {
  const raw = (value ?? '').trim();
  if (raw === '') return { kind: 'unix', socketPath: DEFAULT_SOCKET, display: `unix://${DEFAULT_SOCKET}` };
  const match = /^([a-z]+):\/\/(.*)$/i.exec(raw);
  if (!match) throw new UsageError(`DOCKER_HOST must look like unix:///path or tcp://host:port, got "${raw}"`);
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme === 'unix') {
    const socketPath = rest === '' ? DEFAULT_SOCKET : rest;
    if (!socketPath.startsWith('/'))
      throw new UsageError(`DOCKER_HOST unix socket path must be absolute, got "${raw}"`);
    return { kind: 'unix', socketPath, display: `unix://${socketPath}` };
  }
  if (scheme === 'tcp' || scheme === 'http') {
    // TLS needs client certificates from DOCKER_CERT_PATH; this tool talks to a local engine, so say so plainly.
    if (tlsVerify !== undefined && tlsVerify !== '' && tlsVerify !== '0') {
      throw new UsageError(
        'DOCKER_TLS_VERIFY is set, but TLS to the Docker engine is not supported; use a unix socket or plain tcp://',
      );
    }
    let url: URL;
    try {
      url = new URL(`http://${rest}`);
    } catch {
      throw new UsageError(`DOCKER_HOST is not a valid tcp address: "${raw}"`);
    }
    if (url.hostname === '') throw new UsageError(`DOCKER_HOST has no host: "${raw}"`);
    const port = url.port === '' ? 2375 : Number(url.port);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const basePath = url.pathname.replace(/\/+$/, '');
    return { kind: 'tcp', host, port, basePath, display: `tcp://${url.host}${basePath}` };
  }
  if (scheme === 'https')
    throw new UsageError('DOCKER_HOST https:// is not supported; use a unix socket or plain tcp://');
  throw new UsageError(`DOCKER_HOST scheme "${scheme}://" is not supported; use unix:// or tcp://`);
}
