#!/usr/bin/env node
/**
 * The `drover` command (package.json's "bin"): turns on the CLI's code cache (cli/compile-cache.ts),
 * then runs the CLI (cli/main.ts), whose files then compile through it.
 */
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
void import('./main.js');
