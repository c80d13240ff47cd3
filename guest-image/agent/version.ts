/** Release of the guest agent, reported in AgentHello.agentVersion. */
export const AGENT_VERSION = '0.1.0';
