// Types of the REST API, derived from the generated OpenAPI schema (`npm run gen:api`).
import type { components, operations } from './schema';

type Schemas = components['schemas'];

/**
 * poem-openapi describes `Option<T>` fields as optional, but the server sends them as `null`.
 * `Wire<T>` widens every optional field to also accept `null`.
 */
export type Wire<T> = { [K in keyof T]: undefined extends T[K] ? T[K] | null : T[K] };

export type User = Wire<Schemas['User']>;
export type UserPage = Omit<Schemas['UserPage'], 'items'> & { items: User[] };
export type CreateUserRequest = Wire<Schemas['CreateUserRequest']>;
export type UpdateUserRequest = Wire<Schemas['UpdateUserRequest']>;

export type FileItem = Wire<Schemas['File']>;
export type FilePage = Omit<Schemas['FilePage'], 'items'> & { items: FileItem[] };
export type UpdateFileRequest = Wire<Schemas['UpdateFileRequest']>;

export type Link = Wire<Schemas['Link']>;
export type LinkPage = Omit<Schemas['LinkPage'], 'items'> & { items: Link[] };
export type CreateLinkRequest = Wire<Schemas['CreateLinkRequest']>;
export type DownloadUrl = Schemas['DownloadUrl'];

export type Task = Wire<Schemas['Task']>;
export type TaskPage = Omit<Schemas['TaskPage'], 'items'> & { items: Task[] };
export type ImportFileRequest = Wire<Schemas['ImportFileRequest']>;

export type TokenResponse = Omit<Schemas['TokenResponse'], 'user'> & { user: User };
export type ErrorDetail = Schemas['ErrorDetail'];
export type ErrorBody = Schemas['ErrorBody'];

export type UserListQuery = NonNullable<operations['list_users']['parameters']['query']>;
export type FileListQuery = NonNullable<operations['list_files']['parameters']['query']>;
export type EventListQuery = NonNullable<operations['list_events']['parameters']['query']>;

export type Role = 'admin' | 'viewer';

// ---- accounts: second factor, sessions, API keys, invitations, password reset ----

export type MfaChallenge = Schemas['MfaChallenge'];
export type MfaStatus = Wire<Schemas['MfaStatus']>;
export type TotpEnrollment = Schemas['TotpEnrollment'];
export type RecoveryCodes = Schemas['RecoveryCodes'];

export type Session = Wire<Schemas['Session']>;
export type SessionList = Omit<Schemas['SessionList'], 'items'> & { items: Session[] };

export type ApiKey = Wire<Schemas['ApiKey']>;
export type CreatedKey = Wire<Schemas['CreatedKey']>;
export type KeyList = Omit<Schemas['KeyList'], 'items'> & { items: ApiKey[] };
export type CreateKeyRequest = Schemas['CreateKeyRequest'];

export type Invitation = Wire<Schemas['Invitation']>;
export type CreatedInvitation = Wire<Schemas['CreatedInvitation']>;
export type InvitationList = Omit<Schemas['InvitationList'], 'items'> & { items: Invitation[] };
export type CreateInvitationRequest = Schemas['CreateInvitationRequest'];
export type InvitationPreview = Schemas['InvitationPreview'];

export type ResetLink = Schemas['ResetLink'];

// ---- operations: backups, bulk user import ----

export type BackupStatus = 'running' | 'completed' | 'failed';
export type BackupTrigger = 'api' | 'schedule' | 'cli';
export type BackupPhase = 'database' | 'objects' | 'manifest' | 'done';

/** The OpenAPI schema types the enums as strings; the AsyncAPI document (and the server) narrow them. */
export type Backup = Omit<Wire<Schemas['Backup']>, 'status' | 'trigger' | 'phase'> & {
  status: BackupStatus;
  trigger: BackupTrigger;
  phase: BackupPhase;
};
export type BackupList = { items: Backup[] };

export type UserImportError = Wire<Schemas['UserImportError']>;
export type UserImportReport = Omit<Schemas['UserImportReport'], 'errors'> & { errors: UserImportError[] };
export type ImportFormat = 'csv' | 'jsonl';
export type ImportMode = 'all_or_nothing' | 'skip_invalid';

export type Stats = Schemas['Stats'];
export type StatsPoint = Schemas['StatsPoint'];
export type BusyFile = Schemas['BusyFile'];
