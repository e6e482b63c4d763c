// Every CLI command, registered in the order `previewd --help` lists them.
import type { Command } from 'commander';
import { registerConfigCommand } from './config.js';
import { registerDoctorCommand } from './doctor.js';
import { registerGcCommand } from './gc.js';
import { registerE2eCommand } from './e2e.js';
import { registerRedeployCommand } from './redeploy.js';
import { registerRenderCommand } from './render.js';
import { registerStatusCommand } from './status.js';
import { registerTeardownCommand } from './teardown.js';
import { registerSandboxCommand } from './sandbox.js';
import { registerServeCommand } from './serve.js';
import { registerTemplatesCommand } from './templates.js';

export function registerCommands(program: Command): void {
  registerServeCommand(program);
  registerSandboxCommand(program);
  registerConfigCommand(program);
  registerDoctorCommand(program);
  registerRenderCommand(program);
  registerTemplatesCommand(program);
  registerStatusCommand(program);
  registerRedeployCommand(program);
  registerTeardownCommand(program);
  registerGcCommand(program);
  registerE2eCommand(program);
}
