import type { TestProject } from 'vitest/node';
import { startConsul, type RunningConsul } from './support/consul-agent.js';

declare module 'vitest' {
  export interface ProvidedContext {
    consulAddress: string;
  }
}

let consul: RunningConsul | undefined;

/** One real Consul agent for the whole run; each test file uses its own key prefix. */
export async function setup(project: TestProject) {
  consul = await startConsul();
  project.provide('consulAddress', consul.address);
}

export async function teardown() {
  await consul?.stop();
}
