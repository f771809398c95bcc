import { useState } from 'react';
import { ApiError } from './api.ts';

/** An API error as a form shows it: next to the field the API names (`param`), else above the form. */
export interface FormError {
  field?: string;
  message: string;
}

export function formError(err: unknown): FormError {
  if (err instanceof ApiError) return { field: err.param, message: err.message };
  return { message: (err as Error).message };
}

/** The message under one field (`data-testid="error-<field>"`), when the error is about it. */
export function FieldError(props: { error?: FormError; field: string }) {
  if (!props.error || props.error.field !== props.field) return null;
  return (
    <span className="field-error" role="alert" data-testid={`error-${props.field}`}>
      {props.error.message}
    </span>
  );
}

/** The error no field claims, above the form. */
export function FormAlert(props: { error?: FormError; fields: string[] }) {
  if (!props.error || (props.error.field && props.fields.includes(props.error.field))) return null;
  return (
    <div className="alert error" role="alert">
      {props.error.message}
    </div>
  );
}

/** A secret shown once, with a copy button (the text stays selectable when the clipboard is refused). */
export function OnceSecret(props: { label: string; value: string; testId: string }) {
  const [copied, setCopied] = useState<string>();
  const [done, setDone] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('Copied');
    } catch {
      setCopied('Select the text and copy it');
    }
  }
  if (done) return null;
  return (
    <div className="alert success once-secret" role="status">
      {props.label}
      <div className="secret-row">
        <code className="secret" data-testid={props.testId}>
          {props.value}
        </code>
        <button type="button" className="small-button" onClick={copy} data-testid={`${props.testId}-copy`}>
          Copy
        </button>
        <button type="button" className="small-button" onClick={() => setDone(true)}>
          Done
        </button>
      </div>
      {copied && <span className="small muted">{copied}</span>}
    </div>
  );
}
