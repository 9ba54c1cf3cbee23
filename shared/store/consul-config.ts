import { readFileSync } from 'node:fs';

/** How to reach Consul: one or more agents (tried in turn on connection errors), token, TLS, read consistency. */
export interface ConsulConfig {
  addresses: URL[];
  token?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  consistency: 'default' | 'stale' | 'consistent';
  /** Extra time allowed beyond a blocking query's wait before the request is considered hung. */
  requestSlackMs: number;
}

/** Parses `host:port`, `http://host:port` or `https://host:port` (CONSUL_HTTP_ADDR conventions). */
export function parseConsulAddress(text: string, secure = false): URL {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `${secure ? 'https' : 'http'}://${text}`;
  const url = new URL(withScheme.replace(/^consul:/i, secure ? 'https:' : 'http:'));
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`unsupported Consul address ${text}: expected http(s)://host:port`);
  if (!url.port) url.port = url.protocol === 'https:' ? '8501' : '8500';
  return url;
}

/** Builds the config from a comma-separated address list plus the CONSUL_* environment variables. */
export function consulConfigFrom(addressList: string | undefined, env: NodeJS.ProcessEnv = process.env): ConsulConfig {
  const secure = env.CONSUL_HTTP_SSL === 'true' || env.CONSUL_HTTP_SSL === '1';
  const list = addressList || env.CONSUL_HTTP_ADDR || '127.0.0.1:8500';
  const consistency = env.PLATYPUS_CONSUL_CONSISTENCY;
  if (consistency && !['default', 'stale', 'consistent'].includes(consistency)) {
    throw new Error(`PLATYPUS_CONSUL_CONSISTENCY=${consistency}: expected default, stale or consistent`);
  }
  return {
    addresses: list.split(',').map((a) => parseConsulAddress(a.trim(), secure)),
    token: env.CONSUL_HTTP_TOKEN || (env.CONSUL_HTTP_TOKEN_FILE ? readFileSync(env.CONSUL_HTTP_TOKEN_FILE, 'utf8').trim() : undefined),
    caFile: env.CONSUL_CACERT,
    certFile: env.CONSUL_CLIENT_CERT,
    keyFile: env.CONSUL_CLIENT_KEY,
    consistency: (consistency as ConsulConfig['consistency']) ?? 'default',
    requestSlackMs: 15_000,
  };
}
