import { toJsonSchema, type JsonSchema } from '@valibot/to-json-schema';
import { APP_INTENT, ENV_NAME_PATTERN, ENV_OBJECT, ONE_HEALTH_CHECK } from './structure.js';

/**
 * The app intent as JSON Schema (draft-07), generated from the valibot schema so the two cannot drift,
 * for operators to check specs in their editors and CI. Only `pp schema` loads this module (and the
 * converter): agents never need it. Rules across fields are named in the descriptions, not enforced.
 */
export function intentJsonSchema(): JsonSchema {
  const { $schema, ...schema } = toJsonSchema(APP_INTENT, {
    // Objects are a plain-object check piped into valibot's object schema: the schema to describe is the last.
    typeMode: 'output',
    errorMode: 'throw',
    overrideSchema: ({ valibotSchema, jsonSchema }) => {
      if (valibotSchema === ENV_OBJECT)
        return { type: 'object', propertyNames: { pattern: ENV_NAME_PATTERN.source }, additionalProperties: { type: 'string' } };
      // Unknown fields are refused: say so as JSON Schema usually does rather than as "not anything".
      if (valibotSchema.type === 'object_with_rest') return { ...jsonSchema, additionalProperties: false };
      return undefined;
    },
    overrideAction: ({ valibotAction, jsonSchema }) => {
      if (valibotAction === ONE_HEALTH_CHECK) return { ...jsonSchema, oneOf: [{ required: ['http'] }, { required: ['command'] }] };
      return undefined;
    },
    // Hand-written pieces already described above: the hidden-key check (additionalProperties) and env (ENV_OBJECT).
    ignoreActions: ['raw_check', 'raw_transform'],
  });
  return { $schema, ...schema };
}

/** The JSON Schema as `pp schema` prints it and schema/intent.schema.json holds it: two-space indented, ending in a newline. */
export const intentJsonSchemaText = (): string => `${JSON.stringify(intentJsonSchema(), null, 2)}\n`;
