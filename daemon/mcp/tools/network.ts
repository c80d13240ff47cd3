/** Tools: get_url, set_url (the sandbox's web address and who may open it), get_policy, set_policy (egress). */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { NetworkPolicySchema } from '../../net/policy.js';
import { SpriteObject } from '../../wire/sprite.js';
import { sandboxPath } from '../api.js';
import { addTool, jsonResult, READ_ONLY, textResult, type ToolContext } from '../context.js';

function urlOf(s: SpriteObject): { url: string; access: 'public' | 'private' } {
  return { url: s.url, access: s.url_settings.auth === 'public' ? 'public' : 'private' };
}

export function registerNetworkTools(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'get_url',
    {
      title: "A sandbox's URL",
      description: "The sandbox's web address on this machine (it reaches the guest's HTTP service, port 8080 by default) and whether it is private (a hob token or login needed) or public.",
      input: { name: SandboxNameSchema },
      hints: READ_ONLY,
    },
    async (args) => jsonResult(urlOf(await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name)), SpriteObject))),
  );

  addTool(
    server,
    'set_url',
    {
      title: "Set a sandbox's URL access",
      description: 'Makes the sandbox URL public (anyone who can reach this machine may open it) or private (a hob token or login needed).',
      input: { name: SandboxNameSchema, access: z.enum(['private', 'public']) },
      hints: { readOnly: false, destructive: false, idempotent: true },
    },
    async (args) => {
      const updated = await ctx.api.json('PUT', sandboxPath(ctx.sandbox(args.name)), SpriteObject, { json: { url_settings: { auth: args.access === 'public' ? 'public' : 'sprite' } } });
      return jsonResult(urlOf(updated));
    },
  );

  addTool(
    server,
    'get_policy',
    {
      title: 'Egress policy',
      description: 'Which internet names the sandbox may reach: `{rules: []}` means unrestricted; otherwise rules apply in order and the first match decides.',
      input: { name: SandboxNameSchema },
      hints: READ_ONLY,
    },
    async (args) => jsonResult(await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name), '/policy/network'), NetworkPolicySchema)),
  );

  addTool(
    server,
    'set_policy',
    {
      title: 'Set the egress policy',
      description:
        'Replaces the egress policy, at once for a running sandbox: rules `{domain, action: "allow"|"deny"}` (domain "*", "*.example.com" or "example.com") or `{include: "defaults"}` (package registries, GitHub, agent APIs), in order; an unmatched name is refused. `rules: []` lifts every restriction.',
      input: { name: SandboxNameSchema, rules: NetworkPolicySchema.shape.rules },
      hints: { readOnly: false, destructive: true, idempotent: true },
    },
    async (args) => {
      const path = sandboxPath(ctx.sandbox(args.name), '/policy/network');
      await ctx.api.empty('POST', path, { json: { rules: args.rules } });
      const now = await ctx.api.json('GET', path, NetworkPolicySchema);
      return textResult(`policy of ${args.name} set (${now.rules.length === 0 ? 'unrestricted' : `${now.rules.length} rules`})`);
    },
  );
}
