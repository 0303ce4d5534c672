import * as z from 'zod';
import { commandSubject } from '../nats/subjects.js';
import { contract } from './contract.js';
import { jiraRetryReply } from './operator-api.js';

/** `kubectl mirrord jira retry`: deliver the parked reports now. */
const retry = contract(commandSubject('jira-reporter', 'retry'), z.object({}), jiraRetryReply, 120_000);

/** jira-reporter's wires. */
export const jiraContracts = Object.freeze({ retry });
