import type { StoredFormat, VariantName } from '../media/types.ts'

/** One stored object of an image, as recorded in images.variants (jsonb). */
export interface StoredVariant {
  name: VariantName
  format: StoredFormat
  key: string
  content_type: string
  width: number
  height: number
  size: number
}

export interface ImageRow {
  id: string
  user_id: string
  filename: string
  original_name: string | null
  title: string | null
  b2_file_name: string | null
  mime_type: string
  format: StoredFormat
  source_format: string
  file_size: number
  stored_bytes: number
  width: number
  height: number
  pages: number
  sha256: string
  variants: StoredVariant[]
  views: number
  is_public: boolean
  /** Issue 14: free text of the owner's; the image ends at expires_at or after max_views counted views. */
  description: string | null
  expires_at: Date | null
  max_views: number | null
  views_served: number
  /** Set by moderation (sql/00015) while the image is hidden pending an administrator's review. */
  hidden_at: Date | null
  uploaded_at: Date
  updated_at: Date
}
