#!/usr/bin/env node
import { run } from '../dist/alerts.js';
await run(process.argv);
