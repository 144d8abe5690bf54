"""The snapshot's providers table: a readable name, the moderation flag and the credentials a deployment of
each provider needs, keyed by litellm's provider id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelreg.catalog.sources.common import DEFAULT_CREDENTIALS, title_words

__all__ = ["providers_table"]

PROVIDER_NAMES: dict[str, str] = {
    "ai21": "AI21 Labs",
    "aihubmix": "AIHubMix",
    "amazon_nova": "Amazon Nova",
    "anthropic": "Anthropic",
    "anyscale": "Anyscale",
    "assemblyai": "AssemblyAI",
    "aws_polly": "AWS Polly",
    "azure": "Azure OpenAI",
    "azure_ai": "Azure AI Foundry",
    "azure_text": "Azure OpenAI",
    "bedrock": "AWS Bedrock",
    "bedrock_converse": "AWS Bedrock",
    "bedrock_mantle": "AWS Bedrock Mantle",
    "cerebras": "Cerebras",
    "cloudflare": "Cloudflare Workers AI",
    "codestral": "Mistral AI (Codestral)",
    "cohere": "Cohere",
    "cohere_chat": "Cohere",
    "dashscope": "Alibaba DashScope",
    "databricks": "Databricks",
    "deepgram": "Deepgram",
    "deepinfra": "DeepInfra",
    "deepseek": "DeepSeek",
    "elevenlabs": "ElevenLabs",
    "fal_ai": "fal.ai",
    "fireworks_ai": "Fireworks AI",
    "fireworks_ai-embedding-models": "Fireworks AI",
    "friendliai": "FriendliAI",
    "gemini": "Google Gemini",
    "gigachat": "GigaChat",
    "github_copilot": "GitHub Copilot",
    "gmi": "GMI Cloud",
    "gradient_ai": "DigitalOcean Gradient AI",
    "groq": "Groq",
    "huggingface": "Hugging Face",
    "hyperbolic": "Hyperbolic",
    "inception": "Inception",
    "lambda_ai": "Lambda",
    "libertai": "LibertAI",
    "llamagate": "LlamaGate",
    "meta_llama": "Meta Llama API",
    "minimax": "MiniMax",
    "mistral": "Mistral AI",
    "moonshot": "Moonshot AI",
    "nebius": "Nebius",
    "nlp_cloud": "NLP Cloud",
    "novita": "Novita AI",
    "oci": "Oracle Cloud Infrastructure",
    "ollama": "Ollama",
    "openai": "OpenAI",
    "openinfer": "OpenInfer",
    "openrouter": "OpenRouter",
    "ovhcloud": "OVHcloud AI Endpoints",
    "perplexity": "Perplexity",
    "publicai": "PublicAI",
    "qwencloud": "Qwen Cloud",
    "replicate": "Replicate",
    "runwayml": "Runway",
    "sagemaker": "AWS SageMaker",
    "sambanova": "SambaNova",
    "snowflake": "Snowflake",
    "text-completion-codestral": "Mistral AI (Codestral)",
    "text-completion-inception": "Inception",
    "text-completion-openai": "OpenAI",
    "together_ai": "Together AI",
    "transcribe": "AWS Transcribe",
    "v0": "v0",
    "vercel_ai_gateway": "Vercel AI Gateway",
    "volcengine": "Volcengine",
    "voyage": "Voyage AI",
    "wandb": "Weights & Biases",
    "watsonx": "IBM watsonx",
    "xai": "xAI",
    "xiaomi_mimo": "Xiaomi MiMo",
    "zai": "Z.AI",
}
VERTEX_PROVIDER_NAME = "Google Vertex AI"

FILTERED_PROVIDERS = frozenset({"openai", "azure", "azure_text", "text-completion-openai"})

AWS_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_region_name")
VERTEX_CREDENTIALS = ("vertex_project", "vertex_location", "vertex_credentials")
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "azure": ("api_key", "api_base", "api_version"),
    "azure_text": ("api_key", "api_base", "api_version"),
    "azure_ai": ("api_key", "api_base"),
    "aws_polly": AWS_CREDENTIALS,
    "sagemaker": AWS_CREDENTIALS,
    "transcribe": AWS_CREDENTIALS,
    "cloudflare": ("api_key", "account_id"),
    "databricks": ("api_key", "api_base"),
    "snowflake": ("api_key", "account_id"),
    "watsonx": ("api_key", "api_base", "project_id"),
    # local servers: no key, just where they listen
    "ollama": ("api_base",),
    "lemonade": ("api_base",),
    "lm_studio": ("api_base",),
    "hosted_vllm": ("api_base",),
    "vllm": ("api_base",),
    "llamafile": ("api_base",),
    "xinference": ("api_base",),
}


def provider_name(provider: str) -> str:
    """Readable provider name: the table, Vertex for vertex_ai*, else the title-cased id."""
    if provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[provider]
    if provider.startswith("vertex_ai"):
        return VERTEX_PROVIDER_NAME
    if provider.startswith("bedrock"):
        return PROVIDER_NAMES["bedrock"]
    return title_words(provider)


def credential_fields(provider: str) -> list[str]:
    """Which credentials a deployment of this provider needs (api_key unless known otherwise)."""
    if provider in CREDENTIAL_FIELDS:
        return list(CREDENTIAL_FIELDS[provider])
    if provider.startswith("bedrock"):
        return list(AWS_CREDENTIALS)
    if provider.startswith("vertex_ai"):
        return list(VERTEX_CREDENTIALS)
    return list(DEFAULT_CREDENTIALS)


def providers_table(models: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One entry per provider id used by any model, sorted by id."""
    ids = sorted({m["provider_id"] for m in models})
    return {
        pid: {
            "provider_name": provider_name(pid),
            "moderation": "Filtered" if pid in FILTERED_PROVIDERS else "Unfiltered",
            "credential_fields": credential_fields(pid),
        }
        for pid in ids
    }
