#!/usr/bin/env node
// Runs the TypeScript plugin through tsx's loader, so `npx kubectl-mirrord` and a symlink named
// kubectl-mirrord on PATH (making `kubectl mirrord …` work) need no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
