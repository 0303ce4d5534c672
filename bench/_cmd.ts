import { startNatsServer } from '/work/main/test/support/nats-server.js';
import { benchCommands } from '/work/main/bench/commands.bench.js';
const nats = await startNatsServer();
try { for (let i=0;i<2;i++) console.log(JSON.stringify(await benchCommands(nats))); } finally { await nats[Symbol.asyncDispose](); }
