// Every CLI command, registered in the order `previewd --help` lists them.
import type { Command } from 'commander';
import { registerConfigCommand } from './config.js';
import { registerRenderCommand } from './render.js';
import { registerTemplatesCommand } from './templates.js';

export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerRenderCommand(program);
  registerTemplatesCommand(program);
}
