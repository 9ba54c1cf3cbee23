import { z } from 'zod';
import { nameProblem } from '../names.js';

const safeName = (what: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = nameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} name ${problem}` });
  });

const versionSchema = z.strictObject({
  version: safeName('version'),
  url: z.string().regex(/^(file|https?):\/\//, 'expected a file://, http:// or https:// URL'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters'),
  state: z.enum(['prepared', 'live']),
});

const portSchema = z.strictObject({
  port: z.number().int('expected an integer').min(1, 'expected 1..65535').max(65535, 'expected 1..65535'),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
});

const serviceSchema = z.strictObject({
  command: z.array(z.string().min(1)).min(1, 'expected at least the program to run'),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'), z.string()).default({}),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'expected a user name').optional(),
});

const healthSchema = z
  .strictObject({
    http: z.string().regex(/^https?:\/\//, 'expected an http:// or https:// URL').optional(),
    command: z.array(z.string().min(1)).min(1).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .refine((h) => (h.http === undefined) !== (h.command === undefined), 'expected exactly one of http or command');

/** The JSON stored at `<prefix>/intent/<node>/<app>`: everything one node needs to run one app. */
export const appIntentSchema = z
  .strictObject({
    schema: z.literal(1, 'expected schema version 1'),
    basedir: z.string().regex(/^\/./, 'expected an absolute path').refine((p) => !p.split('/').includes('..'), "must not contain '..'"),
    versions: z.array(versionSchema).default([]),
    ports: z.array(portSchema).default([]),
    service: serviceSchema.optional(),
    health: healthSchema.optional(),
    requires: z.array(safeName('required app')).default([]),
  })
  .superRefine((intent, ctx) => {
    const seen = new Set<string>();
    intent.versions.forEach((v, i) => {
      if (seen.has(v.version)) ctx.addIssue({ code: 'custom', path: ['versions', i, 'version'], message: `duplicate version ${v.version}` });
      seen.add(v.version);
    });
    const live = intent.versions.filter((v) => v.state === 'live');
    if (live.length > 1) ctx.addIssue({ code: 'custom', path: ['versions'], message: 'expected at most one live version' });
    if (live.length === 1 && !intent.service) ctx.addIssue({ code: 'custom', path: ['service'], message: 'required when a version is live' });
    const ports = new Set<string>();
    intent.ports.forEach((p, i) => {
      const id = `${p.port}/${p.protocol}`;
      if (ports.has(id)) ctx.addIssue({ code: 'custom', path: ['ports', i], message: `duplicate port ${id}` });
      ports.add(id);
    });
  });

export type AppIntent = z.output<typeof appIntentSchema>;
export type VersionIntent = AppIntent['versions'][number];
export type PortIntent = AppIntent['ports'][number];
