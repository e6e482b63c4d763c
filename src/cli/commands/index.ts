// Every CLI command, registered in the order `previewd --help` lists them.
import type { Command } from 'commander';
import { registerConfigCommand } from './config.js';

export function registerCommands(program: Command): void {
  registerConfigCommand(program);
}
