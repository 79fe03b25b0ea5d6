"""The registered model's code, logged with each version ("models from code").

MLflow runs this file when it loads a version, instead of unpickling a Python object: the
model is this project's ``RiskModelPyfunc`` with the artifacts logged beside it.
"""

from mlflow.models import set_model

from pipelines.mlflow_model import RiskModelPyfunc

set_model(RiskModelPyfunc())
