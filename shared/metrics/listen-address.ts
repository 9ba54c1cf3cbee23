/** `HOST:PORT` (an IPv6 host in brackets, `[::1]:9464`), as --metrics-address takes it. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`; throws an Error naming the flag and what was expected. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65_535))
    throw new Error(`--metrics-address ${JSON.stringify(text)}: expected HOST:PORT with a port 1..65535, e.g. 127.0.0.1:9464`);
  return { host: m[1] ?? m[2]!, port };
}
