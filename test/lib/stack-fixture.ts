import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Annotations, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { loadConfig, type SluiceConfigInput } from '#lib/config.ts';
import { SluiceStack, STACK_NAME } from '#lib/sluice-stack.ts';
import { cdkJsonContext } from '#lib/template.ts';

/** A synthesized sluice stack, built with the feature flags of cdk.json and asset bundling skipped. */
export interface SynthesizedStack {
  app: App;
  stack: SluiceStack;
  template: Template;
  annotations: Annotations;
  /** CloudFormation logical id of a construct's main resource (or of the resource itself). */
  logicalId(construct: IConstruct): string;
}

/**
 * Builds, without synthesizing, the app and stack for `sluice`, with the feature flags of cdk.json and asset
 * bundling skipped; add constructs or plugins, then synthesize.
 * @example
 * const { app, stack } = buildStack();
 */
export function buildStack(sluice: SluiceConfigInput = {}): { app: App; stack: SluiceStack } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  return { app, stack: new SluiceStack(app, STACK_NAME, { config: loadConfig(sluice) }) };
}

/**
 * Synthesizes the stack for `sluice` without bundling (fast: no esbuild, no layer copy).
 * @example
 * const { template } = synthesizeStack({ useDependencyLayer: true });
 */
export function synthesizeStack(sluice: SluiceConfigInput = {}): SynthesizedStack {
  const { app, stack } = buildStack(sluice);
  return {
    app,
    stack,
    template: Template.fromStack(stack),
    annotations: Annotations.fromStack(stack),
    logicalId(construct) {
      const element = (construct.node.defaultChild ?? construct) as CfnElement;
      return Stack.of(construct).getLogicalId(element);
    },
  };
}

/** A resource of a synthesized template. */
export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
}

/** Resources of a given type, by logical id. */
export function resourcesOfType(template: Template, type: string): Record<string, TemplateResource> {
  return template.findResources(type) as Record<string, TemplateResource>;
}
