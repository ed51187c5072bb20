import * as z from 'zod';

/**
 * The expressions of a CloudFormation template (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub): read
 * once, with every reference checked against the template's resources, then evaluated by `resolveExpression`
 * against the local names and ARNs. template.ts reads the resources that hold them.
 */

/** Base error of this module: what in the template cannot be run locally, and where. */
export class TemplateError extends Error {
  /** Where in the template, e.g. `Resources.ExtractFn.Properties.Environment.Variables.QUEUE_URL`. */
  readonly location: string;

  constructor(location: string, message: string, options?: { cause?: unknown }) {
    super(`${location}: ${message}`, options);
    this.name = 'TemplateError';
    this.location = location;
  }
}

export const PSEUDO_PARAMETERS = [
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::StackName',
] as const;
export type PseudoParameter = (typeof PSEUDO_PARAMETERS)[number];

/** A property value as written in the template, with its intrinsic functions parsed. */
export type TemplateExpression =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'list'; readonly items: readonly TemplateExpression[] }
  | { readonly kind: 'pseudo'; readonly name: PseudoParameter }
  | { readonly kind: 'ref'; readonly logicalId: string }
  | { readonly kind: 'getAtt'; readonly logicalId: string; readonly attribute: string }
  | { readonly kind: 'join'; readonly delimiter: string; readonly parts: TemplateExpression }
  | { readonly kind: 'select'; readonly index: number; readonly list: TemplateExpression }
  | { readonly kind: 'split'; readonly delimiter: string; readonly source: TemplateExpression }
  | { readonly kind: 'concat'; readonly parts: readonly TemplateExpression[] };

export const QUEUE_TYPE = 'AWS::SQS::Queue';
export const TABLE_TYPE = 'AWS::DynamoDB::Table';
export const GLOBAL_TABLE_TYPE = 'AWS::DynamoDB::GlobalTable';
export const FUNCTION_TYPE = 'AWS::Lambda::Function';
export const EVENT_SOURCE_MAPPING_TYPE = 'AWS::Lambda::EventSourceMapping';
export const SECRET_TYPE = 'AWS::SecretsManager::Secret';
export const RULE_TYPE = 'AWS::Events::Rule';

/** Attributes `Fn::GetAtt` may ask of each emulated type (anything else fails at parse time). */
const GET_ATT_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  [QUEUE_TYPE]: ['Arn', 'QueueUrl', 'QueueName'],
  [TABLE_TYPE]: ['Arn'],
  [GLOBAL_TABLE_TYPE]: ['Arn'],
  [FUNCTION_TYPE]: ['Arn'],
  [SECRET_TYPE]: ['Id'],
};

/** Parses intrinsic functions, checking that every reference points at something the template declares. */
export class ExpressionReader {
  readonly #resourceTypes: Readonly<Record<string, string>>;
  readonly #parameterDefaults: Readonly<Record<string, string>>;

  constructor(resourceTypes: Readonly<Record<string, string>>, parameterDefaults: Readonly<Record<string, string>>) {
    this.#resourceTypes = resourceTypes;
    this.#parameterDefaults = parameterDefaults;
  }

  read(value: unknown, location: string): TemplateExpression {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return { kind: 'literal', value: String(value) };
    }
    if (Array.isArray(value)) {
      return { kind: 'list', items: value.map((item, index) => this.read(item, `${location}.${index}`)) };
    }
    if (typeof value !== 'object' || value === null) {
      throw new TemplateError(location, `unsupported value ${JSON.stringify(value)}`);
    }
    const keys = Object.keys(value);
    const [name] = keys;
    if (keys.length !== 1 || name === undefined || (name !== 'Ref' && !name.startsWith('Fn::'))) {
      throw new TemplateError(location, 'expected a string or a single intrinsic function');
    }
    const argument: unknown = Reflect.get(value, name);
    const at = `${location}.${name}`;
    switch (name) {
      case 'Ref':
        return this.#readRef(argument, at);
      case 'Fn::GetAtt':
        return this.#readGetAtt(argument, at);
      case 'Fn::Join': {
        const [delimiter, parts] = this.#tuple(argument, at, z.tuple([z.string(), z.unknown()]));
        return { kind: 'join', delimiter, parts: this.read(parts, `${at}.1`) };
      }
      case 'Fn::Select': {
        const [index, list] = this.#tuple(
          argument,
          at,
          z.tuple([z.union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)]), z.unknown()]),
        );
        return { kind: 'select', index, list: this.read(list, `${at}.1`) };
      }
      case 'Fn::Split': {
        const [delimiter, source] = this.#tuple(argument, at, z.tuple([z.string(), z.unknown()]));
        return { kind: 'split', delimiter, source: this.read(source, `${at}.1`) };
      }
      case 'Fn::Sub':
        return this.#readSub(argument, at);
      default:
        throw new TemplateError(location, `intrinsic function ${name} is not supported locally`);
    }
  }

  /** Reads `{ "Fn::GetAtt": [X, attribute] }` where X has the given type, returning X. */
  readGetAttOf(value: unknown, type: string, attribute: string, location: string): string {
    const expression = this.read(value, location);
    if (
      expression.kind !== 'getAtt' ||
      expression.attribute !== attribute ||
      this.#resourceTypes[expression.logicalId] !== type
    ) {
      throw new TemplateError(location, `expected { "Fn::GetAtt": [<${type}>, "${attribute}"] }`);
    }
    return expression.logicalId;
  }

  /** Reads a function named by `Ref` or by `Fn::GetAtt [.., Arn]`, returning its logical id. */
  readFunctionReference(value: unknown, location: string): string {
    const target = this.functionReferenceOf(value, location);
    if (target === undefined) {
      throw new TemplateError(location, `expected a Ref to an ${FUNCTION_TYPE} of this template`);
    }
    return target;
  }

  /** The logical id of the function a value names by `Ref` or `Fn::GetAtt [.., Arn]`, or undefined for anything else. */
  functionReferenceOf(value: unknown, location: string): string | undefined {
    const expression = this.read(value, location);
    const target =
      expression.kind === 'ref' || (expression.kind === 'getAtt' && expression.attribute === 'Arn')
        ? expression.logicalId
        : undefined;
    return target !== undefined && this.#resourceTypes[target] === FUNCTION_TYPE ? target : undefined;
  }

  #readRef(argument: unknown, location: string): TemplateExpression {
    if (typeof argument !== 'string') {
      throw new TemplateError(location, 'expected the name of a resource, parameter or pseudo parameter');
    }
    if ((PSEUDO_PARAMETERS as readonly string[]).includes(argument)) {
      return { kind: 'pseudo', name: argument as PseudoParameter };
    }
    const parameterDefault = this.#parameterDefaults[argument];
    if (parameterDefault !== undefined) {
      return { kind: 'literal', value: parameterDefault };
    }
    if (this.#resourceTypes[argument] === undefined) {
      throw new TemplateError(
        location,
        `"${argument}" is not a resource, a parameter with a default or a supported pseudo parameter`,
      );
    }
    return { kind: 'ref', logicalId: argument };
  }

  #readGetAtt(argument: unknown, location: string): TemplateExpression {
    let logicalId: string | undefined;
    let attribute: string | undefined;
    if (typeof argument === 'string') {
      const dot = argument.indexOf('.');
      [logicalId, attribute] = dot > 0 ? [argument.slice(0, dot), argument.slice(dot + 1)] : [argument, undefined];
    } else {
      const parsed = z.tuple([z.string(), z.string()]).safeParse(argument);
      if (parsed.success) {
        [logicalId, attribute] = parsed.data;
      }
    }
    if (logicalId === undefined || attribute === undefined) {
      throw new TemplateError(location, 'expected [logicalId, attributeName]');
    }
    this.#checkAttribute(logicalId, attribute, location);
    return { kind: 'getAtt', logicalId, attribute };
  }

  #checkAttribute(logicalId: string, attribute: string, location: string): void {
    const type = this.#resourceTypes[logicalId];
    if (type === undefined) {
      throw new TemplateError(location, `"${logicalId}" is not a resource of this template`);
    }
    // Resources that are not emulated only get a placeholder ARN.
    const allowed = GET_ATT_ATTRIBUTES[type] ?? ['Arn'];
    if (!allowed.includes(attribute)) {
      throw new TemplateError(location, `attribute ${attribute} of ${type} "${logicalId}" is not supported locally`);
    }
  }

  #readSub(argument: unknown, location: string): TemplateExpression {
    const parsed = z.union([z.string(), z.tuple([z.string(), z.record(z.string(), z.unknown())])]).safeParse(argument);
    if (!parsed.success) {
      throw new TemplateError(location, 'expected a string or [string, { name: value }]');
    }
    const [text, variables] = typeof parsed.data === 'string' ? [parsed.data, {}] : parsed.data;
    const parts: TemplateExpression[] = [];
    let rest = text;
    while (rest.length > 0) {
      const start = rest.indexOf('${');
      if (start < 0) {
        parts.push({ kind: 'literal', value: rest });
        break;
      }
      const end = rest.indexOf('}', start);
      if (end < 0) {
        throw new TemplateError(location, `unterminated \${ in "${text}"`);
      }
      const name = rest.slice(start + 2, end);
      parts.push({ kind: 'literal', value: rest.slice(0, start) });
      if (name.startsWith('!')) {
        // ${!Literal} is how Fn::Sub writes a literal "${Literal}".
        parts.push({ kind: 'literal', value: `\${${name.slice(1)}}` });
      } else if (Object.hasOwn(variables, name)) {
        parts.push(this.read(variables[name], `${location}.1.${name}`));
      } else if (name.includes('.')) {
        parts.push(this.#readGetAtt(name, location));
      } else {
        parts.push(this.#readRef(name, location));
      }
      rest = rest.slice(end + 1);
    }
    return { kind: 'concat', parts };
  }

  #tuple<T extends z.ZodType>(argument: unknown, location: string, schema: T): z.output<T> {
    const parsed = schema.safeParse(argument);
    if (!parsed.success) {
      throw new TemplateError(location, `unexpected arguments: ${formatIssues(parsed.error)}`);
    }
    return parsed.data;
  }
}

/** What expressions evaluate against: the local value of every reference. */
export interface ExpressionScope {
  readonly pseudo: (name: PseudoParameter) => string;
  readonly ref: (logicalId: string) => string;
  readonly getAtt: (logicalId: string, attribute: string) => string;
}

/**
 * Evaluates a parsed expression to a string (`Fn::Split` and list literals evaluate to lists inside
 * `Fn::Join` / `Fn::Select`, but the final value must be a string).
 *
 * @example
 * ```ts
 * const url = resolveExpression(description.outputs.IntakeQueueUrl, scope, 'Outputs.IntakeQueueUrl');
 * ```
 */
export function resolveExpression(expression: TemplateExpression, scope: ExpressionScope, location: string): string {
  const value = evaluate(expression, scope, location);
  if (typeof value !== 'string') {
    throw new TemplateError(location, 'evaluates to a list, expected a string');
  }
  return value;
}

function evaluate(expression: TemplateExpression, scope: ExpressionScope, location: string): string | string[] {
  const asString = (inner: TemplateExpression): string => resolveExpression(inner, scope, location);
  const asList = (inner: TemplateExpression): string[] => {
    const value = evaluate(inner, scope, location);
    if (typeof value === 'string') {
      throw new TemplateError(location, 'expected a list');
    }
    return value;
  };
  switch (expression.kind) {
    case 'literal':
      return expression.value;
    case 'list':
      return expression.items.map(asString);
    case 'pseudo':
      return scope.pseudo(expression.name);
    case 'ref':
      return scope.ref(expression.logicalId);
    case 'getAtt':
      return scope.getAtt(expression.logicalId, expression.attribute);
    case 'join':
      return asList(expression.parts).join(expression.delimiter);
    case 'split':
      return asString(expression.source).split(expression.delimiter);
    case 'concat':
      return expression.parts.map(asString).join('');
    case 'select': {
      const list = asList(expression.list);
      const item = list[expression.index];
      if (item === undefined) {
        throw new TemplateError(
          location,
          `Fn::Select index ${expression.index} is out of range (${list.length} items)`,
        );
      }
      return item;
    }
  }
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
