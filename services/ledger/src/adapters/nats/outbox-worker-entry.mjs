// Worker threads do not inherit the parent's --import loader, so the relay thread registers
// tsx itself before loading its TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./outbox-worker.ts');
