import { inject } from 'vitest';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { storeContract } from './store-contract.js';

storeContract('consul', async () => new ConsulStore(consulConfigFrom(inject('consulAddress'), {})));
